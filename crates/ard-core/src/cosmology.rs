//! The project's one cosmology: flat ΛCDM with Planck 2018 parameters
//! (Planck Collaboration 2020, A&A 641, A6, Table 2, TT,TE,EE+lowE+lensing+BAO:
//! H0 = 67.66 km/s/Mpc, Ωm = 0.3111), radiation neglected.
//!
//! Distances follow Hogg (1999, astro-ph/9905116): comoving distance
//! D_C = (c/H0) ∫₀ᶻ dz'/E(z') (eq. 15) with E(z) = √(Ωm(1+z)³ + Ω_Λ) (eq. 14);
//! the age of the universe t(z) = ∫_z^∞ dz' / ((1+z') H(z')) (eq. 30) has the
//! closed form for flat ΛCDM used in [`Cosmology::age_gyr`].

/// Speed of light, km/s (see [`crate::constants`]).
pub use crate::constants::C_KM_S;

/// A flat ΛCDM cosmology.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cosmology {
    /// Hubble constant, km/s/Mpc.
    pub h0: f64,
    /// Matter density today.
    pub omega_m: f64,
}

/// Planck 2018, as used everywhere in desi-ard.
pub const PLANCK18: Cosmology = Cosmology { h0: 67.66, omega_m: 0.3111 };

impl Cosmology {
    /// E(z) = H(z)/H0.
    pub fn e(&self, z: f64) -> f64 {
        (self.omega_m * (1.0 + z).powi(3) + (1.0 - self.omega_m)).sqrt()
    }

    /// Hubble distance c/H0, Mpc.
    pub fn hubble_distance(&self) -> f64 {
        C_KM_S / self.h0
    }

    /// Comoving (line-of-sight) distance to redshift `z`, Mpc (Simpson's rule,
    /// relative error < 1e-9 for z < 10).
    pub fn comoving_distance(&self, z: f64) -> f64 {
        if z <= 0.0 {
            return 0.0;
        }
        let n = 512usize;
        let h = z / n as f64;
        let mut s = 1.0 / self.e(0.0) + 1.0 / self.e(z);
        for i in 1..n {
            let w = if i % 2 == 1 { 4.0 } else { 2.0 };
            s += w / self.e(i as f64 * h);
        }
        self.hubble_distance() * s * h / 3.0
    }

    /// Redshift at comoving distance `d` (Mpc), by bisection on [`Self::comoving_distance`].
    pub fn z_at_comoving_distance(&self, d: f64) -> f64 {
        let (mut lo, mut hi) = (0.0, 20.0);
        for _ in 0..80 {
            let mid = 0.5 * (lo + hi);
            if self.comoving_distance(mid) < d {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    /// Luminosity distance, Mpc (Hogg eq. 21, flat).
    pub fn luminosity_distance(&self, z: f64) -> f64 {
        (1.0 + z) * self.comoving_distance(z)
    }

    /// Age of the universe at redshift `z`, Gyr. Flat ΛCDM closed form:
    /// t(z) = 2 / (3 H0 √Ω_Λ) · asinh(√(Ω_Λ/Ωm) (1+z)^(−3/2)).
    ///
    /// ```
    /// let t0 = ard_core::cosmology::PLANCK18.age_gyr(0.0);
    /// assert!((t0 - 13.79).abs() < 0.03);
    /// ```
    pub fn age_gyr(&self, z: f64) -> f64 {
        let ol = 1.0 - self.omega_m;
        // 1/H0 in Gyr: (Mpc in km) / H0 / (seconds per Gyr).
        let hubble_time_gyr = 977.792_221_5 / self.h0;
        2.0 / (3.0 * ol.sqrt()) * hubble_time_gyr * ((ol / self.omega_m).sqrt() * (1.0 + z).powf(-1.5)).asinh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_match_astropy_flat_lambda_cdm() {
        // Peer: astropy 7 FlatLambdaCDM(H0=67.66, Om0=0.3111, Tcmb0=0): comoving_distance
        // 432.568, 1946.483, 3395.867 Mpc at z = 0.1, 0.5, 1; age 13.7915 and 8.5951 Gyr
        // at z = 0, 0.5. Tolerance 1e-5 relative.
        let c = PLANCK18;
        for (z, d) in [(0.1, 432.568), (0.5, 1946.483), (1.0, 3395.867)] {
            let got = c.comoving_distance(z);
            assert!((got / d - 1.0).abs() < 1e-5, "z={z}: {got} vs {d}");
        }
        assert!((c.age_gyr(0.0) / 13.79150 - 1.0).abs() < 1e-5);
        assert!((c.age_gyr(0.5) / 8.595099 - 1.0).abs() < 1e-5);
        let z = c.z_at_comoving_distance(c.comoving_distance(0.37));
        assert!((z - 0.37).abs() < 1e-9);
    }
}
