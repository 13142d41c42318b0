//! Stars and QSOs for the independent mock: targets every galaxy layer must refuse.
//!
//! DESI's healpix coadds hold Milky Way stars (MWS targets in the bright program, flux
//! standards on every tile) and QSOs beside the galaxies, and redrock classifies them
//! (SPECTYPE STAR, QSO). The layers that model galaxies must refuse them from that
//! classification, not fit them. Their spectra here are realistic enough that a fit
//! forced onto them would go wrong in a visible way:
//! * a star is one old-to-intermediate single stellar population of the mock's library
//!   (BC03: its STELIB stars make the absorption spectrum of a G/K-type star population)
//!   at a Milky-Way radial velocity, with no lines and no redshift;
//! * a QSO is the Vanden Berk et al. (2001, AJ 122, 549) composite in its simplest form: a
//!   power-law continuum f_ν ∝ ν^−0.44 with the broad lines of their Table 2 (rest
//!   equivalent widths, Gaussian profiles of FWHM 4000 km/s; [OIII] narrow), and the
//!   Lyα forest's mean transmission exp(−τ_eff) blueward of Lyα with τ_eff = 0.0018
//!   (1 + z_abs)^3.92 (Faucher-Giguère et al. 2008, ApJ 681, 831, eq. 7), at 0.8 < z < 3.

use ard_core::cosmology::C_KM_S;
use ard_core::wavelength::air_to_vacuum;
use ssp::SspLibrary;

use crate::rng::Rng;

/// What a target is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ObjectKind {
    /// A galaxy (its parameters in `Target::params`).
    Galaxy,
    /// A Milky Way star.
    Star(StarParams),
    /// A quasar.
    Qso(QsoParams),
}

impl ObjectKind {
    /// redrock's SPECTYPE for it.
    pub fn spectype(&self) -> &'static str {
        match self {
            ObjectKind::Galaxy => "GALAXY",
            ObjectKind::Star(_) => "STAR",
            ObjectKind::Qso(_) => "QSO",
        }
    }
    /// Whether it is a galaxy.
    pub fn is_galaxy(&self) -> bool {
        matches!(self, ObjectKind::Galaxy)
    }
}

/// A star of the mock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StarParams {
    /// Age of its population, Gyr (the nearest of the library's is used).
    pub age_gyr: f64,
    /// [M/H] of its population (the nearest of the library's is used).
    pub metallicity: f64,
    /// Heliocentric radial velocity, km/s.
    pub radial_velocity: f64,
    /// AB magnitude in r.
    pub mag_r: f64,
}

/// A QSO of the mock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QsoParams {
    /// Redshift.
    pub z: f64,
    /// AB magnitude in r.
    pub mag_r: f64,
}

/// Fractions of the independent mock's targets that are stars and QSOs (added to the
/// galaxies; DESI's bright and dark programs carry several per cent of each).
pub const STAR_FRACTION: f64 = 0.03;
/// See [`STAR_FRACTION`].
pub const QSO_FRACTION: f64 = 0.03;

impl StarParams {
    /// A star: a population of 1–10 Gyr (log-uniform), [M/H] −0.7 to +0.2, v_r ~ N(0,
    /// 40 km/s) plus the solar reflex, r = 16–19 (MWS and standard-star magnitudes).
    pub fn draw(rng: &mut Rng) -> StarParams {
        StarParams {
            age_gyr: 10f64.powf(rng.uniform()),
            metallicity: rng.range(-0.7, 0.2),
            radial_velocity: 40.0 * rng.normal() + rng.range(-20.0, 20.0),
            mag_r: rng.range(16.0, 19.0),
        }
    }

    /// Redshift of its radial velocity (relativistic Doppler; v ≪ c).
    pub fn z(&self) -> f64 {
        let b = self.radial_velocity / C_KM_S;
        ((1.0 + b) / (1.0 - b)).sqrt() - 1.0
    }

    /// Observed-frame spectrum on the library grid: (vacuum wavelengths Å, F_λ in
    /// arbitrary units; normalised later to `mag_r`).
    pub fn spectrum(&self, lib: &SspLibrary) -> (Vec<f64>, Vec<f64>) {
        let z = self.z();
        let w: Vec<f64> = lib.wave.iter().map(|&w| air_to_vacuum(w) * (1.0 + z)).collect();
        let nearest =
            |grid: &[f64], x: f64| (0..grid.len()).min_by(|&a, &b| (grid[a] - x).abs().total_cmp(&(grid[b] - x).abs())).unwrap_or(0);
        let (age, metal) = (nearest(&lib.ages_gyr, self.age_gyr), nearest(&lib.metals, self.metallicity));
        let f: Vec<f64> = lib.spectrum(metal, age).iter().map(|&x| x as f64).collect();
        (w, f)
    }
}

/// Broad and narrow lines of the Vanden Berk et al. (2001) composite, Table 2: (rest
/// vacuum wavelength Å, rest equivalent width Å, FWHM km/s).
pub const QSO_LINES: [(f64, f64, f64); 9] = [
    (1215.67, 92.9, 4000.0),  // Lyα
    (1240.14, 5.0, 4000.0),   // N V (blended with Lyα in the composite; its own EW here)
    (1549.06, 23.8, 4000.0),  // C IV
    (1908.73, 21.2, 4000.0),  // C III]
    (2798.75, 32.3, 4000.0),  // Mg II
    (4862.68, 46.2, 4000.0),  // Hβ
    (4960.30, 3.6, 500.0),    // [O III] 4959
    (5008.24, 13.2, 500.0),   // [O III] 5007
    (6564.61, 194.5, 4000.0), // Hα
];

impl QsoParams {
    /// A QSO at 0.8 < z < 3 with r = 19.5–22 (DESI's QSO targets reach r ≈ 23).
    pub fn draw(rng: &mut Rng) -> QsoParams {
        QsoParams { z: rng.range(0.8, 3.0), mag_r: rng.range(19.5, 22.0) }
    }

    /// Observed-frame spectrum: (vacuum wavelengths Å, F_λ in arbitrary units; normalised
    /// later to `mag_r`), on a grid of 25 km/s over rest 700–7500 Å.
    pub fn spectrum(&self) -> (Vec<f64>, Vec<f64>) {
        let dln = 25.0 / C_KM_S;
        let n = ((7500.0f64 / 700.0).ln() / dln) as usize;
        let rest: Vec<f64> = (0..n).map(|k| 700.0 * (k as f64 * dln).exp()).collect();
        // f_ν ∝ ν^−0.44 ⇒ f_λ ∝ λ^(−2 + 0.44), normalised at 1450 Å.
        let cont = |w: f64| (w / 1450.0).powf(-1.56);
        let mut f: Vec<f64> = rest.iter().map(|&w| cont(w)).collect();
        for &(w0, ew, fwhm) in &QSO_LINES {
            let s = w0 * fwhm / C_KM_S / ard_core::constants::FWHM_PER_SIGMA;
            // Line flux = EW × continuum at the line (rest frame).
            let flux = ew * cont(w0);
            for k in 0..n {
                let x = (rest[k] - w0) / s;
                if x.abs() < 6.0 {
                    f[k] += flux * (-0.5 * x * x).exp() / (s * (2.0 * std::f64::consts::PI).sqrt());
                }
            }
        }
        // Lyα forest: absorbers at 1 + z_abs = λ_obs / 1215.67.
        for k in 0..n {
            if rest[k] < 1215.67 {
                let z_abs = rest[k] * (1.0 + self.z) / 1215.67 - 1.0;
                f[k] *= (-0.0018 * (1.0 + z_abs).powf(3.92)).exp();
            }
        }
        (rest.iter().map(|w| w * (1.0 + self.z)).collect(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qso_lines_have_their_equivalent_widths_and_the_forest_absorbs() {
        let q = QsoParams { z: 2.0, mag_r: 20.0 };
        let (w, f) = q.spectrum();
        let rest: Vec<f64> = w.iter().map(|x| x / 3.0).collect();
        // Mg II: integrate the excess over the continuum, rest frame.
        let cont = |x: f64| (x / 1450.0f64).powf(-1.56);
        let ew: f64 = (1..rest.len())
            .filter(|&k| (rest[k] - 2798.75).abs() < 150.0)
            .map(|k| (f[k] / cont(rest[k]) - 1.0) * (rest[k] - rest[k - 1]))
            .sum();
        assert!((ew - 32.3).abs() < 1.0, "Mg II EW {ew}");
        // Forest: a QSO at z = 2.5 seen at 3647 Å (rest 1042 Å) is absorbed at z_abs = 2.0,
        // where Faucher-Giguère et al. (2008) measure τ_eff ≈ 0.13 (transmission ≈ 0.88).
        let q = QsoParams { z: 2.5, mag_r: 20.0 };
        let (w, f) = q.spectrum();
        let k = w.partition_point(|&x| x < 3647.0);
        let t = f[k] / cont(w[k] / 3.5);
        assert!((0.85..0.90).contains(&t), "forest transmission {t}");
    }

    #[test]
    fn a_star_sits_at_its_radial_velocity() {
        let s = StarParams { age_gyr: 5.0, metallicity: 0.0, radial_velocity: 100.0, mag_r: 17.0 };
        assert!((s.z() - 100.0 / C_KM_S).abs() < 1e-6);
    }
}
