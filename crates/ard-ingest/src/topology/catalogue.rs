//! The tracer population of the topology, read from the catalogue leaves.

use std::path::{Path, PathBuf};

use ard_core::cosmology::PLANCK18;
use ard_core::eligibility::{Candidate, Fibre, Ineligible, Requirements};
use ard_core::names;
use ard_store::catalog::Columns;
use ard_store::layout::ArdLayout;
use ard_store::manifest::PixelRecord;
use arrow_array::{Array, RecordBatch, StringArray};

use crate::IngestError;

/// One galaxy of the density-defining population.
#[derive(Debug, Clone)]
pub(super) struct Galaxy {
    pub key: (i64, String, String),
    pub ra: f64,
    pub dec: f64,
    pub z: f64,
    pub pos: [f64; 3],
}

/// Each leaf's rows, and why rows are not in the population.
pub(super) struct Catalogue {
    pub leaves: Vec<(u64, PathBuf)>,
    pub galaxies: Vec<Galaxy>,
    pub pixels: Vec<u64>,
}

pub(super) fn read_catalogue(layout: &ArdLayout) -> Result<Catalogue, IngestError> {
    let records = PixelRecord::all(layout)?;
    let mut leaves = Vec::new();
    let mut galaxies = Vec::new();
    for r in records.iter().filter(|r| r.status.published()) {
        let path = layout.catalog_leaf(r.pixel);
        let b = ard_store::catalog::read_parquet(&path)?;
        let members = population(&b, &path)?.into_iter().enumerate().filter(|(_, why)| why.is_none()).map(|(i, _)| i);
        galaxies.extend(galaxies_of(&Columns::new(&path, &b), members)?);
        leaves.push((r.pixel, path));
    }
    const MIN_GALAXIES: usize = 5;
    if galaxies.len() < MIN_GALAXIES {
        return Err(IngestError::TooFewGalaxies { ard: layout.root.clone(), found: galaxies.len(), needed: MIN_GALAXIES });
    }
    let pixels = leaves.iter().map(|l| l.0).collect();
    Ok(Catalogue { leaves, galaxies, pixels })
}

/// Redshifts the topology places in its volume: a galaxy beyond them counts as having no
/// redshift here.
const Z_RANGE: std::ops::Range<f64> = 0.001..1.6;

/// Per row: None when it is in the population, else why not: the shared rule
/// ([`ard_core::eligibility`], primary galaxies, a position counting as part of having a
/// redshift), then a redshift inside [`Z_RANGE`]. The range comes after the rule so that a
/// star (z ≈ 0) or a QSO at z > 1.6 is `not_galaxy`, as in every other layer, not
/// `no_redshift`.
pub(super) fn population(b: &RecordBatch, path: &Path) -> Result<Vec<Option<Ineligible>>, IngestError> {
    let c = Columns::new(path, b);
    let (z, zwarn, spectype, primary) = (c.f64(names::Z)?, c.i64(names::ZWARN)?, c.str(names::SPECTYPE)?, c.bool(names::ZCAT_PRIMARY)?);
    let (ra, dec) = (c.f64(names::TARGET_RA)?, c.f64(names::TARGET_DEC)?);
    let fibres = Fibre::of_table(b);
    Ok((0..b.num_rows())
        .map(|i| {
            let z = (z.is_valid(i) && ra.is_valid(i) && dec.is_valid(i)).then(|| z.value(i));
            let candidate = Candidate {
                fibre: fibres[i],
                // The catalogue keeps no trace of the file; a null z is `no_redshift` here.
                redshift_file: true,
                z,
                zwarn: zwarn.is_valid(i).then(|| zwarn.value(i)),
                spectype: spectype.is_valid(i).then(|| spectype.value(i)),
                primary: primary.is_valid(i).then(|| primary.value(i)),
            };
            match candidate.check(Requirements::PRIMARY_GALAXY) {
                Err(why) => Some(why),
                Ok(z) if !Z_RANGE.contains(&z) => Some(Ineligible::NoRedshift),
                Ok(_) => None,
            }
        })
        .collect())
}

/// The (TARGETID, SURVEY, PROGRAM) key columns of a leaf.
pub(super) struct Keys<'a> {
    targetid: &'a arrow_array::Int64Array,
    survey: &'a StringArray,
    program: &'a StringArray,
}

impl<'a> Keys<'a> {
    pub fn of(c: &Columns<'a>) -> Result<Self, IngestError> {
        Ok(Keys { targetid: c.i64(names::TARGETID)?, survey: c.str(names::SURVEY)?, program: c.str(names::PROGRAM)? })
    }

    /// The key of row `i`.
    pub fn at(&self, i: usize) -> (i64, String, String) {
        (self.targetid.value(i), self.survey.value(i).to_string(), self.program.value(i).to_string())
    }
}

/// The galaxies of the population rows `rows` of a leaf.
fn galaxies_of(c: &Columns, rows: impl Iterator<Item = usize>) -> Result<Vec<Galaxy>, IngestError> {
    let keys = Keys::of(c)?;
    let (ra, dec, z) = (c.f64(names::TARGET_RA)?, c.f64(names::TARGET_DEC)?, c.f64(names::Z)?);
    Ok(rows
        .map(|i| {
            let (ra, dec, z) = (ra.value(i), dec.value(i), z.value(i));
            Galaxy { key: keys.at(i), ra, dec, z, pos: ard_topology::geometry::comoving_position(&PLANCK18, ra, dec, z) }
        })
        .collect())
}
