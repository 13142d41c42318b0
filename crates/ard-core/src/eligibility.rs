//! Which objects a layer fits: one rule, shared by every layer, so "the standard DESI
//! cut" is one predicate and its reason codes mean the same in every `*_status` column.
//!
//! The checks, in this order (the first that fails is the reason): a finite redshift
//! (`no_redshift`); redrock's ZWARN = 0 (`zwarn`); then, for the layers that model
//! galaxies, SPECTYPE GALAXY (`not_galaxy`); then, for layers that need one spectrum
//! per target, DESI's primary spectrum (`not_primary`). A missing SPECTYPE or ZWARN (a
//! redshift table without them) does not reject.

/// What a layer requires beyond a good redshift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Requirements {
    /// Only SPECTYPE GALAXY (stars and QSOs are not fitted with galaxy models).
    pub galaxy: bool,
    /// Only DESI's primary spectrum of each TARGETID (`zcat_primary`).
    pub primary: bool,
}

impl Requirements {
    /// Any object with a good redshift (the embeddings).
    pub const ANY: Requirements = Requirements { galaxy: false, primary: false };
    /// Galaxies (the physics and SED layers).
    pub const GALAXY: Requirements = Requirements { galaxy: true, primary: false };
    /// One spectrum per galaxy (the topology's tracer population).
    pub const PRIMARY_GALAXY: Requirements = Requirements { galaxy: true, primary: true };
}

/// Why an object is not fitted by a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ineligible {
    /// No finite redshift.
    NoRedshift,
    /// Redrock flagged the redshift (ZWARN ≠ 0).
    Zwarn,
    /// SPECTYPE is not GALAXY.
    NotGalaxy,
    /// Not the target's primary spectrum.
    NotPrimary,
}

impl Ineligible {
    /// The code written to a `*_status` column.
    pub fn code(self) -> &'static str {
        match self {
            Ineligible::NoRedshift => "no_redshift",
            Ineligible::Zwarn => "zwarn",
            Ineligible::NotGalaxy => "not_galaxy",
            Ineligible::NotPrimary => "not_primary",
        }
    }

    /// Every code, in check order.
    pub const CODES: [&'static str; 4] = ["no_redshift", "zwarn", "not_galaxy", "not_primary"];
}

/// One object's redshift-table facts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Candidate<'a> {
    /// Redshift.
    pub z: Option<f64>,
    /// Redrock ZWARN.
    pub zwarn: Option<i64>,
    /// Redrock SPECTYPE.
    pub spectype: Option<&'a str>,
    /// Whether it is the target's primary spectrum (`None`: not known yet).
    pub primary: Option<bool>,
}

impl Candidate<'_> {
    /// The redshift when the object passes `req`, else the first reason it does not.
    pub fn check(&self, req: Requirements) -> Result<f64, Ineligible> {
        let Some(z) = self.z.filter(|z| z.is_finite()) else { return Err(Ineligible::NoRedshift) };
        if self.zwarn.is_some_and(|w| w != 0) {
            return Err(Ineligible::Zwarn);
        }
        if req.galaxy && self.spectype.is_some_and(|t| !t.trim().eq_ignore_ascii_case("GALAXY")) {
            return Err(Ineligible::NotGalaxy);
        }
        if req.primary && self.primary != Some(true) {
            return Err(Ineligible::NotPrimary);
        }
        Ok(z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failed_check_is_the_reason() {
        let c = |z, zwarn, spectype, primary| Candidate { z, zwarn, spectype, primary };
        let g = Requirements::PRIMARY_GALAXY;
        assert_eq!(c(Some(0.1), Some(0), Some("GALAXY"), Some(true)).check(g), Ok(0.1));
        assert_eq!(c(None, Some(4), Some("STAR"), Some(false)).check(g), Err(Ineligible::NoRedshift));
        assert_eq!(c(Some(f64::NAN), None, None, None).check(g), Err(Ineligible::NoRedshift));
        assert_eq!(c(Some(0.1), Some(4), Some("STAR"), Some(false)).check(g), Err(Ineligible::Zwarn));
        assert_eq!(c(Some(0.1), Some(0), Some("STAR "), Some(true)).check(g), Err(Ineligible::NotGalaxy));
        assert_eq!(c(Some(0.1), Some(0), Some("galaxy"), Some(false)).check(g), Err(Ineligible::NotPrimary));
        // The embeddings take any class; unknown SPECTYPE/ZWARN do not reject.
        assert_eq!(c(Some(2.0), Some(0), Some("QSO"), None).check(Requirements::ANY), Ok(2.0));
        assert_eq!(c(Some(0.3), None, None, None).check(Requirements::GALAXY), Ok(0.3));
        assert_eq!(Ineligible::CODES.map(|_| ()).len(), 4);
        assert_eq!(Ineligible::Zwarn.code(), Ineligible::CODES[1]);
    }
}
