//! Vacuum ↔ air wavelengths.
//!
//! The IAU standard conversion of Morton (1991, ApJS 77, 119, eq. 3 as restated by
//! Morton 2000, ApJS 130, 403, eq. 8): with σ = 10⁴/λ_vac (µm⁻¹),
//!
//! ```text
//! n − 1 = 6.4328e-5 + 2.94981e-2 / (146 − σ²) + 2.5540e-4 / (41 − σ²)
//! λ_air = λ_vac / n
//! ```
//!
//! The inverse is solved by fixed-point iteration to 1e-10 Å. Valid above 2000 Å;
//! below it (where air wavelengths are not used) wavelengths are returned unchanged,
//! as the IAU convention prescribes.

/// Refractive index of standard air at vacuum wavelength `vac` (Å).
pub fn air_refractive_index(vac: f64) -> f64 {
    let s2 = (1.0e4 / vac).powi(2);
    1.0 + 6.4328e-5 + 2.94981e-2 / (146.0 - s2) + 2.5540e-4 / (41.0 - s2)
}

/// Air wavelength (Å) of a vacuum wavelength (Å).
///
/// ```
/// // Hα: 6564.61 Å vacuum is 6562.80 Å in air.
/// let air = ard_core::wavelength::vacuum_to_air(6564.614);
/// assert!((air - 6562.801).abs() < 0.01);
/// ```
pub fn vacuum_to_air(vac: f64) -> f64 {
    if vac < 2000.0 {
        return vac;
    }
    vac / air_refractive_index(vac)
}

/// Vacuum wavelength (Å) of an air wavelength (Å); inverse of [`vacuum_to_air`].
///
/// ```
/// let vac = ard_core::wavelength::air_to_vacuum(5006.843);
/// assert!((vac - 5008.240).abs() < 0.01);
/// ```
pub fn air_to_vacuum(air: f64) -> f64 {
    if air < 2000.0 {
        return air;
    }
    let mut vac = air;
    for _ in 0..20 {
        let next = air * air_refractive_index(vac);
        if (next - vac).abs() < 1e-10 {
            return next;
        }
        vac = next;
    }
    vac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact_to_1e_8() {
        for w in [3000.0, 3727.09, 4000.0, 6564.6, 9000.0, 12000.0] {
            assert!((vacuum_to_air(air_to_vacuum(w)) - w).abs() < 1e-8);
        }
    }

    #[test]
    fn matches_published_line_pairs() {
        // NIST air / vacuum pairs: Hβ 4861.33/4862.68, [OIII] 5006.84/5008.24, [NII] 6583.45/6585.27.
        for (air, vac) in [(4861.333, 4862.683), (5006.843, 5008.240), (6583.454, 6585.270)] {
            assert!((vacuum_to_air(vac) - air).abs() < 0.01, "{vac}");
        }
    }
}
