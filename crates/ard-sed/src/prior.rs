//! The stellar-metallicity prior.
//!
//! A uniform prior over the template range ([−1.71, +0.22] for E-MILES) lets a
//! low-S/N spectrum wander to [M/H] ≈ −1.5, where the mass-to-light ratio is ~0.2 dex
//! lower than at solar, and the mass interval then spans that whole degeneracy although
//! no massive galaxy is that metal-poor. The default instead follows Leja et al. (2019,
//! ApJ 876, 3, §2.3; "Prospector-α"): a normal distribution centred on the
//! stellar mass–metallicity relation of Gallazzi et al. (2005, MNRAS 362, 41, Table 2:
//! median and 16/84th percentiles of SDSS galaxies in 0.2-dex mass bins), of width
//! `width_factor` × the relation's half 16–84 % range, truncated to the templates.
//! Leja et al. double the observed scatter (`width_factor` = 2) to allow for systematic
//! differences between SSP libraries; the same choice is the default here.

use ard_core::special::{normal_cdf, normal_ppf};

/// Gallazzi et al. (2005) Table 2: log M★ (M☉), median log Z/Z☉, 16th and 84th percentiles.
pub const GALLAZZI05: [(f64, f64, f64, f64); 16] = [
    (8.87, -0.60, -1.11, -0.00),
    (9.07, -0.61, -1.07, -0.00),
    (9.27, -0.65, -1.10, -0.05),
    (9.47, -0.61, -1.03, -0.01),
    (9.68, -0.52, -0.97, 0.05),
    (9.87, -0.41, -0.90, 0.09),
    (10.07, -0.23, -0.80, 0.14),
    (10.27, -0.11, -0.65, 0.17),
    (10.47, -0.01, -0.41, 0.20),
    (10.68, 0.04, -0.24, 0.22),
    (10.87, 0.07, -0.14, 0.24),
    (11.07, 0.10, -0.09, 0.25),
    (11.27, 0.12, -0.06, 0.26),
    (11.47, 0.13, -0.04, 0.28),
    (11.68, 0.14, -0.03, 0.29),
    (11.87, 0.15, -0.03, 0.30),
];

/// log of (Gallazzi's stellar mass / our mass formed): Gallazzi et al. use a Kroupa
/// (2001) IMF and the mass in stars and remnants, our templates a unimodal 1.30
/// (Salpeter) IMF and the mass formed — ≈ −0.2 dex each (Bell & de Jong 2001 for the
/// IMF; the E-MILES surviving fractions of a few-Gyr population for the mass).
pub const MASS_FORMED_TO_GALLAZZI: f64 = -0.35;

/// How [M/H] is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetallicityPrior {
    /// Uniform over the template range.
    TemplateRange,
    /// Truncated normal about the Gallazzi et al. (2005) relation at the galaxy's total
    /// mass; σ = `width_factor` × (p84 − p16)/2 of the relation.
    MassMetallicity {
        /// Multiplier of the relation's scatter (Leja et al. 2019 use 2).
        width_factor: f64,
    },
}

impl Default for MetallicityPrior {
    fn default() -> Self {
        MetallicityPrior::MassMetallicity { width_factor: 2.0 }
    }
}

impl MetallicityPrior {
    /// Maps the unit-cube coordinate `u` to [M/H] in `range` for a galaxy whose total
    /// mass formed is 10^`log_mass_formed_total` M☉.
    pub fn transform(&self, u: f64, log_mass_formed_total: f64, range: (f64, f64)) -> f64 {
        match *self {
            MetallicityPrior::TemplateRange => range.0 + u * (range.1 - range.0),
            MetallicityPrior::MassMetallicity { width_factor } => {
                let (median, p16, p84) = gallazzi05(log_mass_formed_total + MASS_FORMED_TO_GALLAZZI);
                let sigma = (width_factor * 0.5 * (p84 - p16)).max(1e-3);
                truncated_normal_ppf(u, median, sigma, range)
            }
        }
    }
}

/// The relation at `log_mass` (linear interpolation, constant beyond the table).
pub fn gallazzi05(log_mass: f64) -> (f64, f64, f64) {
    let t = &GALLAZZI05;
    if log_mass <= t[0].0 {
        return (t[0].1, t[0].2, t[0].3);
    }
    if log_mass >= t[t.len() - 1].0 {
        let l = t[t.len() - 1];
        return (l.1, l.2, l.3);
    }
    let k = t.partition_point(|r| r.0 <= log_mass);
    let (a, b) = (t[k - 1], t[k]);
    let f = (log_mass - a.0) / (b.0 - a.0);
    let lerp = |x: f64, y: f64| x + f * (y - x);
    (lerp(a.1, b.1), lerp(a.2, b.2), lerp(a.3, b.3))
}

/// Inverse CDF of N(`mean`, `sigma`²) truncated to `range`.
pub fn truncated_normal_ppf(u: f64, mean: f64, sigma: f64, range: (f64, f64)) -> f64 {
    let (a, b) = ((range.0 - mean) / sigma, (range.1 - mean) / sigma);
    // Work in the lower tail, where Φ keeps its relative precision.
    let x = if a + b > 0.0 {
        let (lo, hi) = (normal_cdf(-b), normal_cdf(-a));
        -normal_ppf(hi - u * (hi - lo))
    } else {
        let (lo, hi) = (normal_cdf(a), normal_cdf(b));
        normal_ppf(lo + u * (hi - lo))
    };
    (mean + sigma * x).clamp(range.0, range.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_normal_stays_in_range_and_has_its_median() {
        let range = (-1.71, 0.22);
        let mut last = f64::NEG_INFINITY;
        for i in 0..=1000 {
            let x = truncated_normal_ppf(i as f64 / 1000.0, 0.1, 0.3, range);
            assert!(x >= range.0 && x <= range.1);
            assert!(x >= last, "monotone");
            last = x;
        }
        // Median of N(0, 1) truncated to [0, ∞)-like range [0, 10] is Φ⁻¹(0.75).
        let m = truncated_normal_ppf(0.5, 0.0, 1.0, (0.0, 10.0));
        assert!((m - 0.674_489_750_196_081_7).abs() < 1e-6, "{m}");
        // Both bounds far in the upper tail: still fine.
        let t = truncated_normal_ppf(0.5, -3.0, 0.1, (0.0, 0.22));
        assert!(t > 0.0 && t < 0.05, "{t}");
    }

    #[test]
    fn relation_is_interpolated_and_clamped() {
        assert_eq!(gallazzi05(8.0), (-0.60, -1.11, -0.00));
        assert_eq!(gallazzi05(12.5), (0.15, -0.03, 0.30));
        let (m, _, _) = gallazzi05(10.57);
        assert!(m > -0.01 && m < 0.04);
        // The prior's median follows the relation at the shifted mass.
        let p = MetallicityPrior::MassMetallicity { width_factor: 1.0 };
        let z = p.transform(0.5, 11.0 - MASS_FORMED_TO_GALLAZZI, (-1.71, 0.22));
        assert!((z - 0.085).abs() < 0.05, "{z}");
        assert_eq!(MetallicityPrior::TemplateRange.transform(0.5, 11.0, (-1.0, 0.0)), -0.5);
    }
}
