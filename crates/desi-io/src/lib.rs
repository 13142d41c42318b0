//! `desi-io` owns the DESI data model: it reads the files DESI publishes and turns
//! them into [`ard_core::SpectrumBatch`]es, and writes the same formats for the
//! simulator.
//!
//! * [`layout`] — the `healpix/<survey>/<program>/<pixel//100>/<pixel>/` tree, file
//!   names, discovery, nside-64 pixels;
//! * [`coadd`] — coadd files (FIBERMAP, EXP_FIBERMAP, SCORES, B/R/Z arrays), with
//!   survey/program resolution for files whose headers lack them;
//! * [`redshift`] — redrock `REDSHIFTS` and DR1 `ZCATALOG` tables;
//! * [`joins`] — DESI's afterburners (emline, qso_mgii, qso_qn) and the fastspecfit VAC;
//! * [`merge`] — the b/r/z → brz camera merge of desispec's `coadd_cameras`;
//! * [`spectrum1d`] — single 1-D spectra from elsewhere (SDSS `spec` files, FITS/CSV tables);
//! * [`write`] — the writers.
//!
//! [`read_spectra`] puts them together:
//!
//! ```
//! let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/desi");
//! let read = desi_io::read_spectra(
//!     &dir.join("coadd-special-dark-27247.fits"),
//!     Some(&dir.join("redrock-special-dark-27247.fits")),
//!     &desi_io::ReadOptions::default(),
//! ).unwrap();
//! assert_eq!(read.batch.targetid, vec![39089837499744649]);
//! assert_eq!(read.batch.nwave(), 7781);
//! ```
#![deny(missing_docs)]

pub mod coadd;
pub mod columns;
mod error;
pub mod joins;
pub mod layout;
pub mod merge;
pub mod redshift;
pub mod spectrum1d;
pub mod write;

use std::path::Path;
use std::sync::Arc;

use ard_core::SpectrumBatch;
use arrow_array::RecordBatch;

pub use coadd::{read_coadd, resolve_survey_program, Camera, Coadd, CoaddReader, ObjectIssue};
pub use error::{DesiIoError, Result};
pub use redshift::{
    is_v2_companion, is_zcatalog_name, read_redrock, read_zcatalog, read_zcatalog_for_pixels, read_zcatalog_in_chunks, v2_companion,
    v2_companions_present, RedshiftTable, V2_EXTRA_COLUMNS, ZCATALOG_COLUMNS, Z_SOURCE_KEY,
};

/// Mask bit for brz pixels no camera covered (a camera absent from the file).
pub const MASK_NO_CAMERA: i32 = 1 << 29;

/// Options of [`read_spectra`].
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Survey to use when the file does not say (tile-based coadds).
    pub survey: Option<String>,
    /// Program to use when the file does not say (tile-based coadds).
    pub program: Option<String>,
}

/// A coadd read, merged and joined with its redshifts.
#[derive(Debug, Clone)]
pub struct ReadSpectra {
    /// The merged spectra on the brz grid, FIBERMAP and redshift rows aligned.
    pub batch: SpectrumBatch,
    /// EXP_FIBERMAP, when the file has it.
    pub exp_fibermap: Option<RecordBatch>,
    /// SCORES, when the file has it.
    pub scores: Option<RecordBatch>,
    /// Objects repaired while reading.
    pub issues: Vec<ObjectIssue>,
}

/// Reads a coadd, merges its cameras onto the brz grid and attaches the rows of a
/// redshift file (redrock or zcatalog) by TARGETID.
///
/// # Errors
/// Any [`DesiIoError`]: unreadable files, missing HDUs or columns, shapes that
/// disagree, misaligned grids, a TARGETID with no redshift row, or survey/program
/// that cannot be determined.
pub fn read_spectra(coadd_path: &Path, redshift_path: Option<&Path>, options: &ReadOptions) -> Result<ReadSpectra> {
    SpectraReader::open(coadd_path, redshift_path, options)?.read_all()
}

/// The nside-64 pixels a coadd's rows lie in: its HPXPIXEL (or the pixel its name gives)
/// for a healpix coadd, else those of its FIBERMAP TARGET_RA/TARGET_DEC.
fn coadd_pixels(coadd: &CoaddReader) -> std::collections::BTreeSet<u64> {
    match coadd.keywords().healpix.or_else(|| layout::parse_coadd_name(coadd.path()).map(|n| n.pixel)) {
        Some(p) => [p as u64].into(),
        None => {
            let ra = columns::optional_f64(coadd.fibermap(), "TARGET_RA").unwrap_or_default();
            let dec = columns::optional_f64(coadd.fibermap(), "TARGET_DEC").unwrap_or_default();
            ra.iter().zip(&dec).filter(|(r, d)| r.is_finite() && d.is_finite()).map(|(r, d)| layout::nside64_pixel(*r, *d) as u64).collect()
        }
    }
}

/// [`read_spectra`] with the redshift rows taken from a table already read — a zcatalog
/// read once for every coadd of a run.
///
/// # Errors
/// As [`read_spectra`].
pub fn read_spectra_with_table(coadd_path: &Path, redshifts: Option<&RedshiftTable>, options: &ReadOptions) -> Result<ReadSpectra> {
    // A RecordBatch clone shares its columns.
    SpectraReader::open_with_table(coadd_path, redshifts.cloned().map(Arc::new), options)?.read_all()
}

/// A coadd opened for reading in row chunks, its survey and program resolved and its
/// redshift rows at hand: [`SpectraReader::read_rows`] gives, for a range of rows,
/// exactly the rows [`read_spectra`] gives for the whole file (each row is read,
/// repaired, merged and joined on its own), so a worker's memory is bounded by the
/// chunk, not the file.
pub struct SpectraReader {
    coadd: CoaddReader,
    redshifts: Option<Arc<RedshiftTable>>,
    survey: String,
    program: String,
}

impl SpectraReader {
    /// Opens a coadd and reads its redshift file (redrock, or the coadd's pixels' rows of
    /// a zcatalog).
    ///
    /// # Errors
    /// As [`read_spectra`], for the tables and shapes (arrays are read by `read_rows`).
    pub fn open(coadd_path: &Path, redshift_path: Option<&Path>, options: &ReadOptions) -> Result<SpectraReader> {
        let coadd = CoaddReader::open(coadd_path)?;
        let table = match redshift_path {
            // Only the rows of this coadd's pixels: DR1's zall-pix holds 28 M.
            Some(p) if is_zcatalog_name(p) => Some(read_zcatalog_for_pixels(p, Some(&coadd_pixels(&coadd)))?),
            Some(p) => Some(read_redrock(p)?),
            None => None,
        };
        SpectraReader::with_coadd(coadd, table.map(Arc::new), options)
    }

    /// Opens a coadd whose redshift rows come from a table already read.
    ///
    /// # Errors
    /// As [`SpectraReader::open`].
    pub fn open_with_table(coadd_path: &Path, redshifts: Option<Arc<RedshiftTable>>, options: &ReadOptions) -> Result<Self> {
        SpectraReader::with_coadd(CoaddReader::open(coadd_path)?, redshifts, options)
    }

    fn with_coadd(coadd: CoaddReader, redshifts: Option<Arc<RedshiftTable>>, options: &ReadOptions) -> Result<Self> {
        let (survey, program) = coadd::resolve_survey_program_of(
            coadd.path(),
            coadd.keywords(),
            coadd.fibermap(),
            options.survey.as_deref(),
            options.program.as_deref(),
        )?;
        Ok(SpectraReader { coadd, redshifts, survey, program })
    }

    /// Number of spectra in the coadd.
    pub fn len(&self) -> usize {
        self.coadd.len()
    }

    /// Whether the coadd holds no spectrum.
    pub fn is_empty(&self) -> bool {
        self.coadd.is_empty()
    }

    /// Whether a redshift table was given (else the rows' redshifts are `None`).
    pub fn has_redshifts(&self) -> bool {
        self.redshifts.is_some()
    }

    /// Every row.
    ///
    /// # Errors
    /// As [`SpectraReader::read_rows`].
    pub fn read_all(&mut self) -> Result<ReadSpectra> {
        let n = self.len();
        self.read_rows(0..n)
    }

    /// Rows `rows` (file order), merged onto the brz grid and joined to their redshift
    /// rows; EXP_FIBERMAP holds the exposures of these rows' targets.
    ///
    /// # Errors
    /// Unreadable arrays, misaligned grids, a TARGETID with no redshift row.
    pub fn read_rows(&mut self, rows: std::ops::Range<usize>) -> Result<ReadSpectra> {
        let coadd = self.coadd.read_rows(rows)?;
        let coadd_path = coadd.path.clone();
        let nspec = coadd.targetid.len();
        let merged = merge::coadd_cameras(&coadd_path, &coadd.cameras, nspec)?;
        let merged = merge::onto_brz_grid(&coadd_path, merged, nspec, MASK_NO_CAMERA)?;
        let redshifts = match &self.redshifts {
            Some(table) => {
                let tileids = columns::optional_i64(&coadd.fibermap, "TILEID");
                Some(table.aligned_to(&coadd.targetid, tileids.as_deref(), &self.survey, &self.program, &coadd_path)?)
            }
            None => None,
        };
        let healpix = coadd.keywords.healpix.or_else(|| layout::parse_coadd_name(&coadd_path).map(|n| n.pixel));
        let batch = SpectrumBatch {
            survey: self.survey.clone(),
            program: self.program.clone(),
            healpix,
            wavelength: merged.wavelength,
            targetid: coadd.targetid,
            flux: merged.flux,
            ivar: merged.ivar,
            mask: merged.mask,
            resolution: merged.resolution,
            ndiag: merged.ndiag,
            fibermap: coadd.fibermap,
            redshifts,
        };
        Ok(ReadSpectra { batch, exp_fibermap: coadd.exp_fibermap, scores: coadd.scores, issues: coadd.issues })
    }
}

/// A few numbers describing what was read, for logs and `desi-ard read`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectraSummary {
    /// Number of spectra.
    pub n_spectra: usize,
    /// Smallest and largest redshift (when redshifts were read).
    pub z_range: Option<(f64, f64)>,
    /// Median over objects of the median per-pixel S/N (flux·√ivar, ivar > 0).
    pub median_snr: f64,
    /// Fraction of brz pixels with ivar = 0.
    pub masked_fraction: f64,
}

/// Summarises a read.
pub fn summarise(read: &ReadSpectra) -> SpectraSummary {
    let b = &read.batch;
    let z_range = b.redshifts.as_ref().and_then(|r| columns::optional_f64(r, "Z")).and_then(|z| {
        let lo = z.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        lo.is_finite().then_some((lo, hi))
    });
    let mut per_object: Vec<f64> = (0..b.len())
        .map(|i| {
            let mut s: Vec<f64> =
                b.flux_of(i).iter().zip(b.ivar_of(i)).filter(|(_, &iv)| iv > 0.0).map(|(&f, &iv)| f as f64 * (iv as f64).sqrt()).collect();
            if s.is_empty() {
                return 0.0;
            }
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect();
    per_object.sort_by(f64::total_cmp);
    let median_snr = per_object.get(per_object.len() / 2).copied().unwrap_or(0.0);
    let masked = b.ivar.iter().filter(|&&v| v == 0.0).count() as f64 / b.ivar.len().max(1) as f64;
    SpectraSummary { n_spectra: b.len(), z_range, median_snr, masked_fraction: masked }
}
