//! The forward model of one observed spectrum (written from Carnall et al. 2018, MNRAS
//! 480, 4379, §3 — the Bagpipes model — not from its code):
//!
//! * the E-MILES SSPs (per M☉ formed, with their surviving-mass fractions) are moved to
//!   vacuum, broadened to the galaxy's velocity dispersion, redshifted, resampled
//!   flux-conservingly onto the DESI pixels and passed through the object's resolution
//!   matrix, **once per object** ([`ObservedLibrary`]): every likelihood call is then a
//!   weighted sum of at most 2 × 25 precomputed columns (resampling, 90 % of a Bagpipes
//!   likelihood call, is paid once);
//! * weights: a parametric star-formation history integrated over the template age bins
//!   ([`ssp::sfh::Sfh`], delayed-τ by default), the metallicity interpolated linearly
//!   between the two bracketing E-MILES [M/H] values;
//! * Calzetti et al. (2000) attenuation, with optional extra attenuation of stars younger
//!   than 10 Myr (birth clouds; Carnall et al. 2018 §3.3 use ×2 — here `birth_cloud_factor`);
//! * emission lines are masked (±800 km/s around each line of [`MASKED_LINES`]); the good
//!   pixels are binned in pairs ([`PIXEL_BIN`]) and the smooth attenuation curve is
//!   interpolated between knots ([`DUST_KNOT_SPACING`]), which makes a call 2–3× cheaper;
//! * a multiplicative calibration polynomial 1 + Σ_{k=1..2} c_k P_k(x) (Legendre in the
//!   observed wavelength mapped to [−1, 1]) solved analytically at each call by weighted
//!   least squares with a Gaussian prior σ = 0.1 on each c_k — the overall normalisation
//!   stays in the model, so the absolute (fibre) flux calibration constrains the mass;
//! * a noise-scaling factor s: ln L = −½ χ²/s² − N ln s.

use ard_core::cosmology::Cosmology;
use ard_core::wavelength::air_to_vacuum;
use ssp::ops::{apply_resolution, edges_from_centers, gaussian_convolve_variable, Rebinner};
use ssp::sfh::{calzetti_k, Sfh};
use ssp::SspLibrary;

/// Rest-frame vacuum wavelengths (Å) of the emission lines masked in the fit.
pub const MASKED_LINES: [f64; 17] = [
    3727.09, 3729.88, 3869.86, 3890.17, 3971.20, 4102.89, 4341.68, 4364.44, 4862.68, 4960.30, 5008.24, 5877.25, 6302.05, 6549.86, 6564.61,
    6585.27, 6718.29,
];
/// Half-width of the line masks, km/s.
pub const LINE_MASK_KMS: f64 = 800.0;
/// Also masked: [SII] 6732.67.
const SII_RED: f64 = 6732.67;
// L☉ in erg/s (IAU 2015 nominal) and Mpc in cm: the workspace's constants.
use ard_core::constants::{L_SUN_ERG_S, MPC_CM};
/// Good pixels binned together (inverse-variance weighted).
pub const PIXEL_BIN: usize = 2;
/// The attenuation curve is evaluated every this many (binned) pixels and interpolated
/// linearly between: it is smooth, and one exp per pixel per call was a third of the cost.
pub const DUST_KNOT_SPACING: usize = 32;
/// Calibration polynomial order (terms 1..=ORDER; the constant is the model's).
pub const POLY_ORDER: usize = 2;
/// Prior σ of each calibration coefficient.
pub const POLY_PRIOR_SIGMA: f64 = 0.1;

/// The SSP library resampled onto one object's good pixels.
#[derive(Debug, Clone)]
pub struct ObservedLibrary {
    /// Model columns, `[metal][age][pixel]`, 1e-17 erg/s/cm²/Å per M☉ formed.
    pub columns: Vec<f32>,
    /// Good pixels used.
    pub n_pix: usize,
    /// Observed data on those pixels.
    pub data: Vec<f64>,
    /// Inverse variances.
    pub ivar: Vec<f64>,
    /// 0.4 ln10 k(λ_rest)/R_V per pixel: attenuation is exp(−Av κ).
    pub kappa: Vec<f64>,
    /// κ at the dust knots (every [`DUST_KNOT_SPACING`] pixels and the last).
    knot_kappa: Vec<f64>,
    /// Per pixel: the knot interval and the position in it.
    knot_of: Vec<(usize, f64)>,
    /// Legendre P_1..P_ORDER at each pixel.
    pub legendre: Vec<[f64; POLY_ORDER]>,
    /// Template ages, Gyr.
    pub ages: Vec<f64>,
    /// Template [M/H].
    pub metals: Vec<f64>,
    /// Surviving mass per M☉ formed, `[metal][age]`.
    pub surviving: Vec<f64>,
}

/// Why an object cannot be fitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfit {
    /// Redshift missing, negative or beyond the templates.
    Redshift,
    /// Too few unmasked pixels with ivar > 0.
    TooFewPixels,
}

impl ObservedLibrary {
    /// Prepares the model for one spectrum (`wave` vacuum Å, `flux`/`ivar`/`mask` as in
    /// the coadd, `resolution` its `ndiag × nwave` band) at redshift `z` with stellar
    /// velocity dispersion `sigma_kms`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        lib: &SspLibrary,
        cosmo: &Cosmology,
        wave: &[f64],
        flux: &[f32],
        ivar: &[f32],
        mask: &[i32],
        resolution: &[f32],
        ndiag: usize,
        z: f64,
        sigma_kms: f64,
    ) -> Result<Self, Unfit> {
        if !z.is_finite() || z < 0.001 {
            return Err(Unfit::Redshift);
        }
        let n = wave.len();
        let rest_max = lib.wave.last().copied().unwrap_or(0.0);
        if wave[n - 1] / (1.0 + z) > air_to_vacuum(rest_max) || wave[0] / (1.0 + z) < air_to_vacuum(lib.wave[0]) {
            return Err(Unfit::Redshift);
        }
        let good = good_pixels(wave, flux, ivar, mask, z);
        let idx: Vec<usize> = (0..n).filter(|&j| good[j]).collect();
        if idx.len() < 500 {
            return Err(Unfit::TooFewPixels);
        }
        // Templates: air → vacuum, observed frame; resample onto the DESI pixel edges.
        let tw_obs: Vec<f64> = lib.wave.iter().map(|&w| air_to_vacuum(w) * (1.0 + z)).collect();
        let rebin = Rebinner::new(&edges_from_centers(&tw_obs), &edges_from_centers(wave));
        // Velocity broadening on the template's linear grid: σ_pix = σ/c · λ / Δλ.
        let dl = lib.wave[1] - lib.wave[0];
        let sigma_pix: Vec<f64> = lib.wave.iter().map(|&w| sigma_kms / ard_core::cosmology::C_KM_S * w / dl).collect();
        let dl_mpc = cosmo.luminosity_distance(z);
        // L☉/Å at rest → 1e-17 erg/s/cm²/Å observed: ÷ (4π D_L² (1+z)).
        let scale = L_SUN_ERG_S / (4.0 * std::f64::consts::PI * (dl_mpc * MPC_CM).powi(2) * (1.0 + z)) / 1e-17;
        let (nm, na) = (lib.metals.len(), lib.ages_gyr.len());
        // Adjacent good pixels are binned in pairs, inverse-variance weighted (data and
        // model alike): the continuum carries the SED information, and half the pixels
        // halve every likelihood call.
        let bins: Vec<&[usize]> = idx.chunks(PIXEL_BIN).collect();
        let bin_ivar: Vec<f64> = bins.iter().map(|b| b.iter().map(|&j| ivar[j] as f64).sum()).collect();
        let bin_mean = |b: &[usize], total: f64, v: &dyn Fn(usize) -> f64| b.iter().map(|&j| ivar[j] as f64 * v(j)).sum::<f64>() / total;
        let per_ssp: Vec<Vec<f32>> = {
            use rayon::prelude::*;
            (0..nm * na)
                .into_par_iter()
                .map(|k| {
                    let (m, a) = (k / na, k % na);
                    let t: Vec<f64> = lib.spectrum(m, a).iter().map(|&v| v as f64).collect();
                    let broadened = gaussian_convolve_variable(&t, &sigma_pix);
                    let on_pixels = rebin.apply(&broadened);
                    let observed = apply_resolution(resolution, ndiag, &on_pixels);
                    bins.iter().zip(&bin_ivar).map(|(b, &tot)| (bin_mean(b, tot, &|j| observed[j]) * scale) as f32).collect()
                })
                .collect()
        };
        let columns = per_ssp.concat();
        let bin_wave: Vec<f64> = bins.iter().zip(&bin_ivar).map(|(b, &tot)| bin_mean(b, tot, &|j| wave[j])).collect();
        let (w0, w1) = (wave[0], wave[n - 1]);
        let legendre = bin_wave
            .iter()
            .map(|&w| {
                let x = 2.0 * (w - w0) / (w1 - w0) - 1.0;
                let mut p = [0.0; POLY_ORDER];
                let (mut pm1, mut pk) = (1.0, x);
                for (k, slot) in p.iter_mut().enumerate() {
                    *slot = pk;
                    let next = ((2 * k + 3) as f64 * x * pk - (k + 1) as f64 * pm1) / (k + 2) as f64;
                    pm1 = pk;
                    pk = next;
                }
                p
            })
            .collect();
        let kappa: Vec<f64> = bin_wave.iter().map(|&w| 0.4 * std::f64::consts::LN_10 * calzetti_k(w / (1.0 + z)) / 4.05).collect();
        let nb = bins.len();
        let knots: Vec<usize> = (0..nb).step_by(DUST_KNOT_SPACING).chain(std::iter::once(nb - 1)).collect();
        let knot_of: Vec<(usize, f64)> = (0..nb)
            .map(|j| {
                let k = (j / DUST_KNOT_SPACING).min(knots.len() - 2);
                let (a, b) = (knots[k], knots[k + 1]);
                (k, if b > a { (j - a) as f64 / (b - a) as f64 } else { 0.0 })
            })
            .collect();
        Ok(ObservedLibrary {
            columns,
            n_pix: nb,
            data: bins.iter().zip(&bin_ivar).map(|(b, &tot)| bin_mean(b, tot, &|j| flux[j] as f64)).collect(),
            ivar: bin_ivar,
            knot_kappa: knots.iter().map(|&k| kappa[k]).collect(),
            knot_of,
            kappa,
            legendre,
            ages: lib.ages_gyr.clone(),
            metals: lib.metals.clone(),
            surviving: lib.surviving_mass.clone(),
        })
    }

    /// [`ObservedLibrary::new`] for row `i` of a reader batch.
    pub fn for_object(
        lib: &SspLibrary,
        cosmo: &Cosmology,
        b: &ard_core::SpectrumBatch,
        i: usize,
        z: f64,
        sigma_kms: f64,
    ) -> Result<Self, Unfit> {
        Self::new(lib, cosmo, &b.wavelength, b.flux_of(i), b.ivar_of(i), b.mask_of(i), b.resolution_of(i), b.ndiag, z, sigma_kms)
    }

    fn column(&self, metal: usize, age: usize) -> &[f32] {
        let k = metal * self.ages.len() + age;
        &self.columns[k * self.n_pix..(k + 1) * self.n_pix]
    }
}

/// The pixels the fit uses: ivar > 0, unmasked, finite flux, and farther than
/// [`LINE_MASK_KMS`] from every line of [`MASKED_LINES`] (and [SII] 6733) at redshift `z`.
pub fn good_pixels(wave: &[f64], flux: &[f32], ivar: &[f32], mask: &[i32], z: f64) -> Vec<bool> {
    (0..wave.len())
        .map(|j| {
            let rest = wave[j] / (1.0 + z);
            let near_line = MASKED_LINES
                .iter()
                .chain(std::iter::once(&SII_RED))
                .any(|&l| (rest / l - 1.0).abs() * ard_core::cosmology::C_KM_S < LINE_MASK_KMS);
            ivar[j] > 0.0 && mask.get(j).is_none_or(|&m| m == 0) && flux[j].is_finite() && !near_line
        })
        .collect()
}

/// Physical parameters of one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// log10 of the stellar mass formed, M☉ (in the fibre).
    pub log_mass_formed: f64,
    /// The star-formation history.
    pub sfh: Sfh,
    /// [M/H].
    pub metallicity: f64,
    /// V-band attenuation, mag.
    pub av: f64,
    /// Extra attenuation factor for stars younger than 10 Myr (1 = none).
    pub birth_cloud_factor: f64,
    /// Noise scaling s.
    pub noise_scale: f64,
}

/// Quantities derived from one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Derived {
    /// log10 surviving stellar mass (stars + remnants), M☉.
    pub log_mass: f64,
    /// log10 mean SFR over the last 100 Myr, M☉/yr (−∞ when none).
    pub log_sfr: f64,
    /// Surviving-mass-weighted age, Gyr.
    pub age_mw: f64,
}

/// Metallicity bracket: (lower index, weight of the upper).
fn metal_bracket(metals: &[f64], mh: f64) -> (usize, f64) {
    let k = metals.partition_point(|&x| x < mh).clamp(1, metals.len() - 1);
    let t = ((mh - metals[k - 1]) / (metals[k] - metals[k - 1])).clamp(0.0, 1.0);
    (k - 1, t)
}

impl ObservedLibrary {
    /// ln L of `p` (and the model's χ²), the calibration polynomial solved analytically.
    pub fn log_likelihood(&self, p: &Params, scratch: &mut Vec<f64>) -> (f64, f64) {
        let n = self.n_pix;
        scratch.clear();
        scratch.resize(n, 0.0);
        let weights = p.sfh.bin_fractions(&self.ages);
        let (m0, t) = metal_bracket(&self.metals, p.metallicity);
        let mass = 10f64.powf(p.log_mass_formed);
        let young_extra = p.birth_cloud_factor > 1.0;
        // Old stars first; stars < 10 Myr (young) get extra attenuation after.
        let mut young = if young_extra { vec![0.0; n] } else { Vec::new() };
        for (a, &w) in weights.iter().enumerate() {
            if w <= 0.0 {
                continue;
            }
            let target: &mut Vec<f64> = if young_extra && self.ages[a] < 0.01 { &mut young } else { scratch };
            for (m, wm) in [(m0, 1.0 - t), (m0 + 1, t)] {
                let c = w * wm * mass;
                if c == 0.0 {
                    continue;
                }
                for (y, &v) in target.iter_mut().zip(self.column(m, a)) {
                    *y += c * v as f64;
                }
            }
        }
        // Dust, then the calibration polynomial by weighted least squares with a prior.
        let s2 = p.noise_scale * p.noise_scale;
        let mut g = [[0.0; POLY_ORDER]; POLY_ORDER];
        let mut b = [0.0; POLY_ORDER];
        let dust: Vec<f64> = self.knot_kappa.iter().map(|k| (-p.av * k).exp()).collect();
        let dust_young: Vec<f64> =
            if young_extra { self.knot_kappa.iter().map(|k| (-p.av * p.birth_cloud_factor * k).exp()).collect() } else { Vec::new() };
        for j in 0..n {
            let (k, f) = self.knot_of[j];
            let mut m = scratch[j] * (dust[k] + f * (dust[k + 1] - dust[k]));
            if young_extra {
                m += young[j] * (dust_young[k] + f * (dust_young[k + 1] - dust_young[k]));
            }
            scratch[j] = m;
            let w = self.ivar[j] / s2;
            let r = self.data[j] - m;
            for k in 0..POLY_ORDER {
                let a = m * self.legendre[j][k];
                b[k] += w * a * r;
                for l in 0..=k {
                    g[k][l] += w * a * m * self.legendre[j][l];
                }
            }
        }
        let prior = 1.0 / (POLY_PRIOR_SIGMA * POLY_PRIOR_SIGMA);
        for k in 0..POLY_ORDER {
            g[k][k] += prior;
            for l in 0..k {
                g[l][k] = g[k][l];
            }
        }
        let c = solve_small(g, b);
        let mut chi2 = 0.0;
        for j in 0..n {
            let poly = 1.0 + (0..POLY_ORDER).map(|k| c[k] * self.legendre[j][k]).sum::<f64>();
            let r = self.data[j] - scratch[j] * poly;
            chi2 += self.ivar[j] * r * r;
        }
        let prior_term: f64 = c.iter().map(|x| x * x * prior).sum();
        let log_l = -0.5 * (chi2 / s2 + prior_term) - n as f64 * p.noise_scale.ln();
        (log_l, chi2)
    }

    /// Surviving mass, SFR over 100 Myr and mass-weighted age of `p`.
    pub fn derived(&self, p: &Params) -> Derived {
        let weights = p.sfh.bin_fractions(&self.ages);
        let (m0, t) = metal_bracket(&self.metals, p.metallicity);
        let na = self.ages.len();
        let (mut surv, mut age_num) = (0.0, 0.0);
        for (a, &w) in weights.iter().enumerate() {
            let s = (1.0 - t) * self.surviving[m0 * na + a] + t * self.surviving[(m0 + 1) * na + a];
            surv += w * s;
            age_num += w * s * self.ages[a];
        }
        let frac100 = p.sfh.fraction_between(0.0, 0.1);
        let mass = 10f64.powf(p.log_mass_formed);
        Derived {
            log_mass: p.log_mass_formed + surv.max(1e-300).log10(),
            log_sfr: if frac100 > 0.0 { (mass * frac100 / 1e8).log10() } else { f64::NEG_INFINITY },
            age_mw: if surv > 0.0 { age_num / surv } else { f64::NAN },
        }
    }
}

fn solve_small(mut g: [[f64; POLY_ORDER]; POLY_ORDER], mut b: [f64; POLY_ORDER]) -> [f64; POLY_ORDER] {
    // Gaussian elimination; the prior keeps the diagonal positive.
    for k in 0..POLY_ORDER {
        let p = g[k][k];
        if p.abs() < 1e-300 {
            return [0.0; POLY_ORDER];
        }
        for i in k + 1..POLY_ORDER {
            let f = g[i][k] / p;
            for j in k..POLY_ORDER {
                g[i][j] -= f * g[k][j];
            }
            b[i] -= f * b[k];
        }
    }
    let mut x = [0.0; POLY_ORDER];
    for k in (0..POLY_ORDER).rev() {
        let s: f64 = (k + 1..POLY_ORDER).map(|j| g[k][j] * x[j]).sum();
        x[k] = (b[k] - s) / g[k][k];
    }
    x
}
