//! Galaxy physics of the simulator: a parametric star-formation history on the
//! E-MILES SSP grid, Calzetti dust, nebular lines tied to the young-star SFR, and
//! the rest-frame model spectrum.

use ssp::SspLibrary;

use crate::rng::Rng;

/// The simulated populations (`sim_class` in the truth table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Population {
    /// Bright Galaxy Survey-like: r < 19.5-ish, mixed star formation.
    Bgs,
    /// Luminous red galaxy-like: massive, old, quiescent.
    Lrg,
    /// Emission-line galaxy-like: star-forming, strong [OII].
    Elg,
    /// Green-Pea-like compact starburst: very strong [OIII] 5007, high EW.
    GreenPea,
}

impl Population {
    /// Name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Population::Bgs => "BGS",
            Population::Lrg => "LRG",
            Population::Elg => "ELG",
            Population::GreenPea => "GREENPEA",
        }
    }
}

/// Emission lines: name, vacuum rest wavelength (Å; NIST/SDSS vacuum values).
pub const LINES: [(&str, f64); 13] = [
    ("OII_3726", 3727.092),
    ("OII_3729", 3729.875),
    ("HEPSILON", 3971.195),
    ("HDELTA", 4102.892),
    ("HGAMMA", 4341.684),
    ("HBETA", 4862.683),
    ("OIII_4959", 4960.295),
    ("OIII_5007", 5008.240),
    ("NII_6548", 6549.861),
    ("HALPHA", 6564.614),
    ("NII_6584", 6585.273),
    ("SII_6716", 6718.294),
    ("SII_6731", 6732.674),
];

/// Everything that defines one simulated galaxy's light.
#[derive(Debug, Clone)]
pub struct GalaxyParams {
    /// Population.
    pub population: Population,
    /// log10 stellar mass (stars + remnants), M☉, whole galaxy.
    pub log_mass: f64,
    /// Time since star formation began, Gyr.
    pub sfh_age: f64,
    /// Delayed-τ timescale, Gyr.
    pub tau: f64,
    /// Fraction of the formed mass in a recent constant burst.
    pub burst_fraction: f64,
    /// Duration of that burst, Gyr.
    pub burst_age: f64,
    /// [M/H].
    pub metallicity: f64,
    /// V-band attenuation of the stars, mag (Calzetti 2000).
    pub av: f64,
    /// Stellar velocity dispersion, km/s.
    pub sigma_star: f64,
    /// Gas velocity dispersion, km/s.
    pub sigma_gas: f64,
    /// [OIII]5007 / Hβ.
    pub oiii_hb: f64,
    /// [NII]6584 / Hα.
    pub nii_ha: f64,
    /// ([SII]6716 + 6731) / Hα.
    pub sii_ha: f64,
    /// [OII](3726 + 3729) / Hβ.
    pub oii_hb: f64,
    /// Half-light radius, kpc.
    pub r_half_kpc: f64,
}

/// Draws galaxy parameters for a population in a web environment (`web_class`
/// 0–3): quiescence is more likely at high mass and in denser environments.
pub fn draw_params(pop: Population, web_class: i8, age_universe: f64, rng: &mut Rng) -> GalaxyParams {
    let env = [-0.6, -0.2, 0.2, 0.6][web_class.clamp(0, 3) as usize];
    let (log_mass, quiescent) = match pop {
        Population::Lrg => (rng.range(10.8, 11.7), true),
        Population::Elg => (rng.range(9.3, 10.5), false),
        Population::GreenPea => (rng.range(8.5, 9.6), false),
        Population::Bgs => {
            let m = rng.range(9.3, 11.3);
            let p_q = 1.0 / (1.0 + (-((m - 10.5) / 0.35 + 2.0 * env)).exp());
            (m, rng.uniform() < p_q)
        }
    };
    let max_age = (age_universe - 0.2).max(1.5);
    let (sfh_age, tau) = if quiescent {
        (rng.range(0.6, 0.95) * max_age, rng.range(0.3, 1.0))
    } else if pop == Population::GreenPea {
        (rng.range(1.0, 4.0), rng.range(3.0, 8.0))
    } else {
        (rng.range(0.3, 0.9) * max_age, rng.range(3.0, 10.0))
    };
    let (burst_fraction, burst_age) =
        if pop == Population::GreenPea { (rng.range(0.03, 0.10), rng.range(0.015, 0.04)) } else { (0.0, 0.0) };
    let metallicity = (0.25 * (log_mass - 10.5) - 0.1 + 0.1 * rng.normal()).clamp(-1.6, 0.2);
    let av = if quiescent {
        rng.range(0.0, 0.3)
    } else if pop == Population::GreenPea {
        rng.range(0.05, 0.3)
    } else {
        rng.range(0.2, 1.2)
    };
    let sigma_star = (10f64.powf(2.0 + 0.3 * (log_mass - 10.5) + 0.05 * rng.normal())).clamp(40.0, 350.0);
    let r_half_kpc = if pop == Population::GreenPea {
        rng.range(0.5, 1.5)
    } else {
        10f64.powf(0.5 + 0.2 * (log_mass - 10.5) + if quiescent { -0.15 } else { 0.05 } + 0.1 * rng.normal())
    };
    let (oiii_hb, nii_ha, sii_ha, oii_hb) = if pop == Population::GreenPea {
        (rng.range(5.0, 7.5), rng.range(0.03, 0.08), rng.range(0.08, 0.15), rng.range(1.0, 2.0))
    } else {
        let met = (log_mass - 9.0) / 2.5;
        (rng.range(0.3, 1.5) * (1.2 - 0.6 * met).max(0.2), (0.08 + 0.3 * met).clamp(0.05, 0.5), rng.range(0.2, 0.4), rng.range(1.5, 3.5))
    };
    GalaxyParams {
        population: pop,
        log_mass,
        sfh_age,
        tau,
        burst_fraction,
        burst_age,
        metallicity,
        av,
        sigma_star,
        sigma_gas: rng.range(40.0, 90.0),
        oiii_hb,
        nii_ha,
        sii_ha,
        oii_hb,
        r_half_kpc,
    }
}

pub use ssp::sfh::{calzetti_factor, calzetti_k};

/// Mass formed (M☉ per M☉ of total formed) in each SSP age bin, and derived truths.
#[derive(Debug, Clone)]
pub struct StarFormation {
    /// Weight of each template age (fractions of the formed mass, sum 1).
    pub weights: Vec<f64>,
    /// Fraction of formed mass formed in the last 100 Myr.
    pub frac_100myr: f64,
    /// Fraction of formed mass formed in the last 10 Myr.
    pub frac_10myr: f64,
}

/// Delayed-τ SFR(t) ∝ t exp(−t/τ) (t since the start), plus a constant burst over
/// the last `burst_age` Gyr holding `burst_fraction` of the mass. Returns the mass
/// formed, per unit total, in each template-age bin (bin edges at geometric means of
/// adjacent template ages; ages older than `sfh_age` get nothing).
pub fn star_formation(p: &GalaxyParams, ages: &[f64]) -> StarFormation {
    // Cumulative formed mass of the delayed-τ part between lookback times.
    let cum = |t: f64| -> f64 { ssp::sfh::delayed_tau_cumulative(t, p.tau) };
    let total_smooth = cum(p.sfh_age);
    // Formed mass of the smooth part between lookback times lb1 < lb2 (Gyr).
    let smooth = |lb1: f64, lb2: f64| -> f64 {
        let (a, b) = ((p.sfh_age - lb2).max(0.0), (p.sfh_age - lb1).max(0.0));
        (cum(b) - cum(a)) / total_smooth
    };
    let burst = |lb1: f64, lb2: f64| -> f64 {
        if p.burst_fraction <= 0.0 {
            return 0.0;
        }
        let overlap = (lb2.min(p.burst_age) - lb1.max(0.0)).max(0.0);
        overlap / p.burst_age
    };
    let fb = p.burst_fraction;
    let mass = |lb1: f64, lb2: f64| (1.0 - fb) * smooth(lb1, lb2) + fb * burst(lb1, lb2);
    let n = ages.len();
    let mut edges = vec![0.0; n + 1];
    for i in 1..n {
        edges[i] = (ages[i - 1] * ages[i]).sqrt();
    }
    edges[n] = f64::INFINITY;
    let weights: Vec<f64> = (0..n).map(|i| mass(edges[i], edges[i + 1].min(p.sfh_age.max(edges[i])))).collect();
    let s: f64 = weights.iter().sum();
    StarFormation { weights: weights.iter().map(|w| w / s).collect(), frac_100myr: mass(0.0, 0.1) / s, frac_10myr: mass(0.0, 0.01) / s }
}

/// The rest-frame stellar model of one galaxy on the template's optical (and IR)
/// grid, per M☉ formed, plus mass bookkeeping.
#[derive(Debug, Clone)]
pub struct StellarModel {
    /// L☉/Å per M☉ formed, optical grid (air wavelengths), attenuated.
    pub flux: Vec<f64>,
    /// Same on the IR grid.
    pub flux_ir: Vec<f64>,
    /// Surviving mass per M☉ formed.
    pub surviving: f64,
    /// Mass-weighted age (surviving-mass weights), Gyr.
    pub age_mw: f64,
    /// Star formation bookkeeping.
    pub sf: StarFormation,
}

/// Builds the stellar model: SSPs weighted by the SFH, metallicity interpolated
/// linearly between the two nearest grid values, Calzetti-attenuated.
pub fn stellar_model(lib: &SspLibrary, p: &GalaxyParams) -> StellarModel {
    let sf = star_formation(p, &lib.ages_gyr);
    let m = &lib.metals;
    let k = m.partition_point(|&x| x < p.metallicity).clamp(1, m.len() - 1);
    let t = ((p.metallicity - m[k - 1]) / (m[k] - m[k - 1])).clamp(0.0, 1.0);
    let (npix, nir) = (lib.npix(), lib.wave_ir.len());
    let mut flux = vec![0.0; npix];
    let mut flux_ir = vec![0.0; nir];
    let (mut surviving, mut age_num) = (0.0, 0.0);
    for (ia, &w) in sf.weights.iter().enumerate() {
        if w == 0.0 {
            continue;
        }
        for (im, wm) in [(k - 1, 1.0 - t), (k, t)] {
            let ww = w * wm;
            if ww == 0.0 {
                continue;
            }
            for (f, &s) in flux.iter_mut().zip(lib.spectrum(im, ia)) {
                *f += ww * s as f64;
            }
            for (f, &s) in flux_ir.iter_mut().zip(lib.spectrum_ir(im, ia)) {
                *f += ww * s as f64;
            }
            let ms = ww * lib.surviving_mass[lib.index(im, ia)];
            surviving += ms;
            age_num += ms * lib.ages_gyr[ia];
        }
    }
    for (f, &w) in flux.iter_mut().zip(&lib.wave) {
        *f *= calzetti_factor(w, p.av);
    }
    for (f, &w) in flux_ir.iter_mut().zip(&lib.wave_ir) {
        *f *= calzetti_factor(w, p.av);
    }
    StellarModel { flux, flux_ir, surviving, age_mw: age_num / surviving, sf }
}

/// Emission-line luminosities (erg/s, attenuated) of a galaxy forming `sfr_10myr`
/// M☉/yr: Hα from Kennicutt (1998, ARA&A 36, 189, eq. 2: SFR = 7.9e-42 L(Hα)), Balmer
/// decrement of case B at 10⁴ K (Osterbrock & Ferland 2006, Table 4.2: Hα/Hβ 2.86,
/// Hγ/Hβ 0.468, Hδ/Hβ 0.259, Hε/Hβ 0.159), doublet ratios [OIII] 2.98, [NII] 3.05,
/// [OII]3729/3726 1.4, [SII]6716/6731 1.3; nebular attenuation Av_gas = Av / 0.44
/// (Calzetti 2000).
pub fn line_luminosities(p: &GalaxyParams, sfr_10myr: f64) -> Vec<f64> {
    let ha = sfr_10myr / 7.9e-42;
    let hb = ha / 2.86;
    let oiii = p.oiii_hb * hb;
    let nii = p.nii_ha * ha;
    let sii = p.sii_ha * ha;
    let oii = p.oii_hb * hb;
    let intrinsic = [
        oii / 2.4,
        oii * 1.4 / 2.4,
        0.159 * hb,
        0.259 * hb,
        0.468 * hb,
        hb,
        oiii / 2.98,
        oiii,
        nii / 3.05,
        ha,
        nii,
        sii * 1.3 / 2.3,
        sii / 2.3,
    ];
    let av_gas = p.av / 0.44;
    intrinsic.iter().zip(LINES.iter()).map(|(l, (_, w))| l * calzetti_factor(*w, av_gas)).collect()
}

/// Balogh et al. (1999, ApJ 527, 54) narrow Dn4000 of a rest-frame spectrum on an
/// **air** wavelength grid: ⟨F_ν⟩(4000–4100) / ⟨F_ν⟩(3850–3950), uniform means.
pub fn dn4000(wave_air: &[f64], flux_lambda: &[f64]) -> f64 {
    let fnu = |lo: f64, hi: f64| band_mean(wave_air, flux_lambda, lo, hi, true);
    fnu(4000.0, 4100.0) / fnu(3850.0, 3950.0)
}

/// Worthey & Ottaviani (1997, ApJS 111, 377) HδA equivalent width (Å) on an **air**
/// grid: index 4083.500–4122.250, blue 4041.600–4079.750, red 4128.500–4161.000.
pub fn hdelta_a(wave_air: &[f64], flux_lambda: &[f64]) -> f64 {
    let (b0, b1, r0, r1, i0, i1) = (4041.600, 4079.750, 4128.500, 4161.000, 4083.500, 4122.250);
    let fb = band_mean(wave_air, flux_lambda, b0, b1, false);
    let fr = band_mean(wave_air, flux_lambda, r0, r1, false);
    let (lb, lr) = (0.5 * (b0 + b1), 0.5 * (r0 + r1));
    let cont = |l: f64| fb + (fr - fb) * (l - lb) / (lr - lb);
    // ∫(1 − F/C) dλ with fine sub-sampling of the linearly interpolated spectrum.
    let n = 4000;
    let dl = (i1 - i0) / n as f64;
    (0..n)
        .map(|k| {
            let l = i0 + (k as f64 + 0.5) * dl;
            (1.0 - interp(wave_air, flux_lambda, l) / cont(l)) * dl
        })
        .sum()
}

fn interp(x: &[f64], y: &[f64], at: f64) -> f64 {
    let k = x.partition_point(|&v| v < at).clamp(1, x.len() - 1);
    y[k - 1] + (y[k] - y[k - 1]) * (at - x[k - 1]) / (x[k] - x[k - 1])
}

/// Uniform mean of F_λ (or F_ν ∝ λ² F_λ when `fnu`) over [lo, hi] with the linearly
/// interpolated spectrum, band edges exact.
fn band_mean(x: &[f64], y: &[f64], lo: f64, hi: f64, fnu: bool) -> f64 {
    let n = 2000;
    let dl = (hi - lo) / n as f64;
    (0..n)
        .map(|k| {
            let l = lo + (k as f64 + 0.5) * dl;
            let f = interp(x, y, l);
            if fnu {
                f * l * l
            } else {
                f
            }
        })
        .sum::<f64>()
        / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calzetti_is_normalised_at_v() {
        // k(0.55 µm) ≈ R_V = 4.05 by construction of the curve.
        assert!((calzetti_k(5500.0) - 4.05).abs() < 0.1);
        assert!(calzetti_k(3000.0) > calzetti_k(6000.0));
    }

    #[test]
    fn sfh_weights_sum_to_one_and_burst_lands_young() {
        let ages = [0.0631, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];
        let mut rng = Rng::new(1, 2);
        let mut p = draw_params(Population::GreenPea, 1, 12.0, &mut rng);
        p.burst_fraction = 0.1;
        p.burst_age = 0.02;
        let sf = star_formation(&p, &ages);
        assert!((sf.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(sf.weights[0] >= 0.1);
        assert!(sf.frac_10myr > 0.04 && sf.frac_10myr < 0.06);
    }

    #[test]
    fn dn4000_of_a_flat_fnu_spectrum_is_one() {
        let w: Vec<f64> = (0..3000).map(|i| 3500.0 + 0.5 * i as f64).collect();
        let f: Vec<f64> = w.iter().map(|l| 1.0 / (l * l)).collect();
        assert!((dn4000(&w, &f) - 1.0).abs() < 1e-6);
        let flat: Vec<f64> = w.iter().map(|_| 1.0).collect();
        assert!(hdelta_a(&w, &flat).abs() < 1e-9);
    }
}
