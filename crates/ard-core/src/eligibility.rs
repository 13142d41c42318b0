//! Which objects a layer fits: one rule, shared by every layer, so "the standard DESI
//! cut" is one predicate and its reason codes mean the same in every `*_status` column.
//!
//! The checks, in this order (the first that fails is the reason):
//! 1. a science fibre: FIBERMAP OBJTYPE = TGT and a non-negative TARGETID
//!    (`not_science_fibre`: sky fibres, and the unassigned or stuck positioners desispec
//!    writes with a negative TARGETID);
//! 2. a good fibre: COADD_FIBERSTATUS = 0 (`bad_fibre`; desispec `maskbits.fibermask`:
//!    bad positioning, broken or low-transmission fibres, bad petals, ...);
//! 3. a finite redshift (`no_redshift_file` when the coadd came with no redshift file at
//!    all, `no_redshift` when its row has none);
//! 4. redrock's ZWARN = 0 (`zwarn`);
//! 5. for the layers that model galaxies, SPECTYPE GALAXY (`not_galaxy`);
//! 6. for layers that need one spectrum per target, DESI's primary spectrum (`not_primary`).
//!
//! Checks 1–4 are the standard DESI cut for a usable redshift. A column the input lacks
//! (no OBJTYPE, COADD_FIBERSTATUS, SPECTYPE or ZWARN) does not reject.

use arrow_array::RecordBatch;

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

    /// The codes [`Candidate::check`] can give under these requirements, in check order
    /// (for a layer's `*_status` vocabulary).
    pub fn codes(self) -> Vec<&'static str> {
        Ineligible::ALL
            .iter()
            .filter(|i| match i {
                Ineligible::NotGalaxy => self.galaxy,
                Ineligible::NotPrimary => self.primary,
                _ => true,
            })
            .map(|i| i.code())
            .collect()
    }
}

/// Why an object is not fitted by a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ineligible {
    /// Not a science target's fibre: OBJTYPE ≠ TGT (sky, unassigned) or a negative
    /// TARGETID (an unassigned or stuck positioner).
    NotScienceFibre,
    /// COADD_FIBERSTATUS ≠ 0: the fibre was flagged in at least one coadded exposure.
    BadFibre,
    /// The coadd came with no redshift file (no redrock partner, no zcatalog row).
    NoRedshiftFile,
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
            Ineligible::NotScienceFibre => "not_science_fibre",
            Ineligible::BadFibre => "bad_fibre",
            Ineligible::NoRedshiftFile => "no_redshift_file",
            Ineligible::NoRedshift => "no_redshift",
            Ineligible::Zwarn => "zwarn",
            Ineligible::NotGalaxy => "not_galaxy",
            Ineligible::NotPrimary => "not_primary",
        }
    }

    /// Every reason, in check order.
    pub const ALL: [Ineligible; 7] = [
        Ineligible::NotScienceFibre,
        Ineligible::BadFibre,
        Ineligible::NoRedshiftFile,
        Ineligible::NoRedshift,
        Ineligible::Zwarn,
        Ineligible::NotGalaxy,
        Ineligible::NotPrimary,
    ];
}

/// The FIBERMAP facts of one fibre that decide whether it is a usable science fibre.
/// `None` where the input has no such column (then the check passes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fibre {
    /// TARGETID (negative for unassigned and stuck positioners).
    pub targetid: Option<i64>,
    /// Whether OBJTYPE is `TGT` (vs `SKY`, `BAD`, ...).
    pub objtype_tgt: Option<bool>,
    /// COADD_FIBERSTATUS (OR of the coadded exposures' FIBERSTATUS bits).
    pub coadd_fiberstatus: Option<i64>,
}

impl Fibre {
    /// The fibres of a FIBERMAP (or of a catalogue with `targetid`, `objtype` and
    /// `coadd_fiberstatus` columns), one per row; column names are matched in upper and
    /// lower case.
    pub fn of_table(table: &RecordBatch) -> Vec<Fibre> {
        use crate::columns::{nullable_i64, nullable_str};
        let either = |upper: &str| table.column_by_name(upper).map(|_| upper.to_string()).unwrap_or_else(|| upper.to_lowercase());
        let n = table.num_rows();
        let ids = nullable_i64(table, &either("TARGETID"));
        let objtype = nullable_str(table, &either("OBJTYPE"));
        let status = nullable_i64(table, &either("COADD_FIBERSTATUS"));
        (0..n)
            .map(|i| Fibre {
                targetid: ids.as_ref().and_then(|c| c[i]),
                objtype_tgt: objtype.as_ref().and_then(|c| c[i].as_deref().map(|t| t.trim() == "TGT")),
                coadd_fiberstatus: status.as_ref().and_then(|c| c[i]),
            })
            .collect()
    }

    /// Why this fibre is not a usable science fibre, if it is not (checks 1–2).
    pub fn problem(&self) -> Option<Ineligible> {
        if self.objtype_tgt == Some(false) || self.targetid.is_some_and(|t| t < 0) {
            return Some(Ineligible::NotScienceFibre);
        }
        if self.coadd_fiberstatus.is_some_and(|s| s != 0) {
            return Some(Ineligible::BadFibre);
        }
        None
    }
}

/// One object's redshift-table facts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Candidate<'a> {
    /// The fibre's FIBERMAP facts.
    pub fibre: Fibre,
    /// Whether the coadd came with a redshift table at all (`false`: no redrock file and
    /// no zcatalog row, so a missing `z` says `no_redshift_file`).
    pub redshift_file: bool,
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
        if let Some(why) = self.fibre.problem() {
            return Err(why);
        }
        let Some(z) = self.z.filter(|z| z.is_finite()) else {
            return Err(if self.redshift_file { Ineligible::NoRedshift } else { Ineligible::NoRedshiftFile });
        };
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
    use std::sync::Arc;

    #[test]
    fn the_first_failed_check_is_the_reason() {
        let f = Fibre::default();
        let c = |z, zwarn, spectype, primary| Candidate { fibre: f, redshift_file: true, z, zwarn, spectype, primary };
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
        assert_eq!(Requirements::ANY.codes(), ["not_science_fibre", "bad_fibre", "no_redshift_file", "no_redshift", "zwarn"]);
        assert_eq!(Requirements::GALAXY.codes().len(), 6);
        let no_file = Candidate { redshift_file: false, ..c(None, None, None, None) };
        assert_eq!(no_file.check(Requirements::ANY), Err(Ineligible::NoRedshiftFile));
        assert_eq!(Requirements::PRIMARY_GALAXY.codes().last(), Some(&"not_primary"));
    }

    /// A sky fibre with a good-looking redshift, an unassigned positioner and a badly
    /// positioned galaxy are all refused before any redshift check.
    #[test]
    fn fibre_cuts_come_first() {
        let fm = RecordBatch::try_from_iter(vec![
            ("TARGETID", Arc::new(arrow_array::Int64Array::from(vec![10, 11, -3004001, 13, 14])) as _),
            ("OBJTYPE", Arc::new(arrow_array::StringArray::from(vec!["TGT", "SKY", "BAD", "TGT", "TGT "])) as _),
            ("COADD_FIBERSTATUS", Arc::new(arrow_array::Int32Array::from(vec![0, 0, 3, 512, 0])) as _),
        ])
        .expect("batch");
        let fibres = Fibre::of_table(&fm);
        let problems: Vec<_> = fibres.iter().map(Fibre::problem).collect();
        assert_eq!(
            problems,
            [None, Some(Ineligible::NotScienceFibre), Some(Ineligible::NotScienceFibre), Some(Ineligible::BadFibre), None]
        );
        let good_z =
            |fibre| Candidate { fibre, redshift_file: true, z: Some(0.3), zwarn: Some(0), spectype: Some("GALAXY"), primary: Some(true) };
        assert_eq!(good_z(fibres[1]).check(Requirements::ANY), Err(Ineligible::NotScienceFibre));
        assert_eq!(good_z(fibres[3]).check(Requirements::ANY).map_err(Ineligible::code), Err("bad_fibre"));
        assert_eq!(good_z(fibres[0]).check(Requirements::PRIMARY_GALAXY), Ok(0.3));
        // Lower-case catalogue columns read the same; absent columns do not reject.
        let cat = RecordBatch::try_from_iter(vec![
            ("targetid", Arc::new(arrow_array::Int64Array::from(vec![-1, 5])) as _),
            ("objtype", Arc::new(arrow_array::StringArray::from(vec![Some("TGT"), None])) as _),
        ])
        .expect("batch");
        let f = Fibre::of_table(&cat);
        assert_eq!(f[0].problem(), Some(Ineligible::NotScienceFibre));
        assert_eq!(f[1], Fibre { targetid: Some(5), objtype_tgt: None, coadd_fiberstatus: None });
        assert_eq!(f[1].problem(), None);
    }
}
