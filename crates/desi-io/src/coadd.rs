//! DESI coadd files (`coadd-*.fits`), as `desispec.io.write_spectra` writes them.
//!
//! HDUs are found by EXTNAME: FIBERMAP, EXP_FIBERMAP (optional), SCORES (optional)
//! and, per camera c ∈ {B, R, Z}, `c_WAVELENGTH` (f64, nwave), `c_FLUX` and `c_IVAR`
//! (f32, nspec × nwave), `c_MASK` (int32 plain, with BZERO, or tile-compressed) and
//! `c_RESOLUTION` (f32, nspec × ndiag × nwave, offsets +ndiag/2 … −ndiag/2).

use std::path::{Path, PathBuf};

use ard_fits::{FitsFile, HduKind, RecordBatch};

use crate::columns::{column_i64, optional_str};
use crate::error::{DesiIoError, Result};

/// One spectrograph arm of a coadd.
#[derive(Debug, Clone)]
pub struct Camera {
    /// `b`, `r` or `z`.
    pub name: String,
    /// Wavelengths, Å (vacuum).
    pub wavelength: Vec<f64>,
    /// Flux, nspec × nwave.
    pub flux: Vec<f32>,
    /// Inverse variance, nspec × nwave.
    pub ivar: Vec<f32>,
    /// Mask bits, nspec × nwave.
    pub mask: Vec<i32>,
    /// Resolution diagonals, nspec × ndiag × nwave.
    pub resolution: Vec<f32>,
    /// Number of diagonals.
    pub ndiag: usize,
}

impl Camera {
    /// Number of wavelength pixels.
    pub fn nwave(&self) -> usize {
        self.wavelength.len()
    }
}

/// Survey/program/pixel facts found in a file's headers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileKeywords {
    /// PRIMARY SURVEY.
    pub survey: Option<String>,
    /// PRIMARY PROGRAM.
    pub program: Option<String>,
    /// PRIMARY HPXPIXEL (nside-64 nested pixel of a healpix coadd).
    pub healpix: Option<i64>,
    /// PRIMARY SPGRP (`healpix`, `cumulative`, `pernight`, ...).
    pub spgrp: Option<String>,
    /// PRIMARY TILEID (tile-based coadds).
    pub tileid: Option<i64>,
    /// SURVEY in the FIBERMAP header (the tile's survey).
    pub fibermap_survey: Option<String>,
    /// PROGRAM in the FIBERMAP header (the tile's fibre-assignment program, which
    /// for healpix coadds may differ from the healpix grouping program).
    pub fibermap_program: Option<String>,
}

/// Something wrong with one object that did not stop the others being read.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectIssue {
    /// The object.
    pub targetid: i64,
    /// What was wrong and what was done about it.
    pub problem: String,
}

/// A coadd file read into memory.
#[derive(Debug, Clone)]
pub struct Coadd {
    /// The file.
    pub path: PathBuf,
    /// Header facts.
    pub keywords: FileKeywords,
    /// TARGETID per spectrum, in file order.
    pub targetid: Vec<i64>,
    /// FIBERMAP, one row per spectrum.
    pub fibermap: RecordBatch,
    /// EXP_FIBERMAP (per exposure), when present.
    pub exp_fibermap: Option<RecordBatch>,
    /// SCORES, when present.
    pub scores: Option<RecordBatch>,
    /// The cameras present, in file order.
    pub cameras: Vec<Camera>,
    /// Objects with problems that were repaired (NaN flux masked, ...).
    pub issues: Vec<ObjectIssue>,
}

/// Bit set in the mask of pixels whose flux or ivar was not finite on input
/// (desispec `specmask` has no such bit; 2^30 is unused by DESI).
pub const MASK_NONFINITE: i32 = 1 << 30;

pub(crate) fn read_keywords(f: &mut FitsFile) -> Result<FileKeywords> {
    f.move_to_primary()?;
    let mut k = FileKeywords {
        survey: f.read_key_str("SURVEY")?,
        program: f.read_key_str("PROGRAM")?,
        healpix: f.read_key_i64("HPXPIXEL")?,
        spgrp: f.read_key_str("SPGRP")?,
        tileid: f.read_key_i64("TILEID")?,
        ..Default::default()
    };
    if f.has_hdu("FIBERMAP")? {
        f.move_to("FIBERMAP")?;
        k.fibermap_survey = f.read_key_str("SURVEY")?;
        k.fibermap_program = f.read_key_str("PROGRAM")?;
    }
    Ok(k)
}

fn read_optional_table(f: &mut FitsFile, names: &[String], extname: &str) -> Result<Option<RecordBatch>> {
    if names.iter().any(|n| n.eq_ignore_ascii_case(extname)) {
        f.move_to(extname)?;
        Ok(Some(f.read_table()?))
    } else {
        Ok(None)
    }
}

fn expect_shape(path: &Path, hdu: &str, found: &[usize], expected: &[usize]) -> Result<()> {
    if found != expected {
        return Err(DesiIoError::Shape {
            path: path.to_path_buf(),
            hdu: hdu.into(),
            expected: format!("{expected:?}"),
            found: found.to_vec(),
        });
    }
    Ok(())
}

/// Where one camera's arrays are, found and checked when a coadd is opened.
#[derive(Debug, Clone)]
struct CameraHdus {
    /// `B`, `R` or `Z`.
    name: &'static str,
    wavelength: Vec<f64>,
    has_mask: bool,
    ndiag: usize,
    /// Shapes of FLUX/IVAR, MASK and RESOLUTION, numpy order.
    flux_shape: Vec<usize>,
    mask_shape: Vec<usize>,
    resolution_shape: Vec<usize>,
}

/// A coadd opened for reading its spectra in row chunks: the tables are read and
/// every camera's HDUs found and their shapes checked at [`CoaddReader::open`], so a
/// chunk costs only the memory of its own rows ([`CoaddReader::read_rows`]).
pub struct CoaddReader {
    file: FitsFile,
    path: PathBuf,
    keywords: FileKeywords,
    targetid: Vec<i64>,
    fibermap: RecordBatch,
    exp_fibermap: Option<RecordBatch>,
    scores: Option<RecordBatch>,
    cameras: Vec<CameraHdus>,
}

impl CoaddReader {
    /// Opens a coadd: header facts, FIBERMAP, EXP_FIBERMAP and SCORES (when present),
    /// wavelengths, and the shapes of every camera among B, R, Z.
    ///
    /// # Errors
    /// A missing FIBERMAP, a camera with some but not all of its HDUs, or arrays whose
    /// shapes disagree with FIBERMAP's row count or the camera's wavelength grid.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let mut f = FitsFile::open(path)?;
        let names = f.hdu_names()?;
        let keywords = read_keywords(&mut f)?;
        f.move_to("FIBERMAP")?;
        let fibermap = f.read_table()?;
        let targetid = column_i64(&fibermap, "TARGETID", path, "FIBERMAP")?;
        let nspec = targetid.len();
        let exp_fibermap = read_optional_table(&mut f, &names, "EXP_FIBERMAP")?;
        let scores = read_optional_table(&mut f, &names, "SCORES")?;
        let mut cameras = Vec::new();
        for cam in ["B", "R", "Z"] {
            let has = |suffix: &str| names.iter().any(|n| n.eq_ignore_ascii_case(&format!("{cam}_{suffix}")));
            if !has("WAVELENGTH") && !has("FLUX") {
                continue;
            }
            // A camera that is present must be complete: a missing HDU is an error naming it.
            let hdu = |s: &str| format!("{cam}_{s}");
            f.move_to(&hdu("WAVELENGTH"))?;
            let (wavelength, wshape) = f.read_image::<f64>()?;
            if wshape.len() != 1 {
                return Err(DesiIoError::Shape { path: path.into(), hdu: hdu("WAVELENGTH"), expected: "[nwave]".into(), found: wshape });
            }
            let nwave = wavelength.len();
            if wavelength.windows(2).any(|w| !(w[1] > w[0])) {
                return Err(DesiIoError::Grid {
                    path: path.into(),
                    message: format!("{}: wavelengths not strictly increasing", hdu("WAVELENGTH")),
                });
            }
            f.move_to(&hdu("FLUX"))?;
            let flux_shape = f.image_shape()?;
            expect_shape(path, &hdu("FLUX"), &flux_shape, &[nspec, nwave])?;
            f.move_to(&hdu("IVAR"))?;
            expect_shape(path, &hdu("IVAR"), &f.image_shape()?, &[nspec, nwave])?;
            let has_mask = has("MASK");
            let mask_shape = if has_mask {
                f.move_to(&hdu("MASK"))?;
                let s = f.image_shape()?;
                expect_shape(path, &hdu("MASK"), &s, &[nspec, nwave])?;
                s
            } else {
                vec![nspec, nwave]
            };
            f.move_to(&hdu("RESOLUTION"))?;
            if f.hdu_kind()? != HduKind::Image {
                return Err(DesiIoError::Shape { path: path.into(), hdu: hdu("RESOLUTION"), expected: "an image".into(), found: vec![] });
            }
            let s = f.image_shape()?;
            if s.len() != 3 || s[0] != nspec || s[2] != nwave || s[1] % 2 == 0 {
                return Err(DesiIoError::Shape {
                    path: path.into(),
                    hdu: hdu("RESOLUTION"),
                    expected: format!("[{nspec}, ndiag (odd), {nwave}]"),
                    found: s,
                });
            }
            cameras.push(CameraHdus { name: cam, wavelength, has_mask, ndiag: s[1], flux_shape, mask_shape, resolution_shape: s });
        }
        if cameras.is_empty() {
            return Err(DesiIoError::Metadata {
                path: path.into(),
                message: "no B/R/Z camera HDUs (expected B_WAVELENGTH, B_FLUX, ...)".into(),
            });
        }
        Ok(CoaddReader { file: f, path: path.to_path_buf(), keywords, targetid, fibermap, exp_fibermap, scores, cameras })
    }

    /// Number of spectra.
    pub fn len(&self) -> usize {
        self.targetid.len()
    }

    /// Whether the coadd holds no spectrum.
    pub fn is_empty(&self) -> bool {
        self.targetid.is_empty()
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Header facts.
    pub fn keywords(&self) -> &FileKeywords {
        &self.keywords
    }

    /// The whole FIBERMAP.
    pub fn fibermap(&self) -> &RecordBatch {
        &self.fibermap
    }

    /// Reads spectra `rows` (file order) of every camera: FIBERMAP and SCORES rows
    /// sliced to match, EXP_FIBERMAP cut to the chunk's TARGETIDs (in file order).
    ///
    /// Non-finite flux or ivar values are repaired (ivar = 0, flux = 0, mask bit
    /// [`MASK_NONFINITE`]) and reported in [`Coadd::issues`] by TARGETID; the rest of
    /// the object and the other objects are kept. Each row is read and repaired on its
    /// own, so any chunking gives the same rows.
    ///
    /// # Errors
    /// `rows` past the end, or cfitsio's errors on the arrays ([`DesiIoError::Fits`]).
    pub fn read_rows(&mut self, rows: std::ops::Range<usize>) -> Result<Coadd> {
        let f = &mut self.file;
        let targetid = self.targetid.get(rows.clone()).map(<[i64]>::to_vec).unwrap_or_default();
        let mut cameras = Vec::new();
        let mut issues = Vec::new();
        for cam in &self.cameras {
            let hdu = |s: &str| format!("{}_{s}", cam.name);
            let nwave = cam.wavelength.len();
            f.move_to(&hdu("FLUX"))?;
            let mut flux = f.read_image_rows::<f32>(&cam.flux_shape, rows.clone())?;
            f.move_to(&hdu("IVAR"))?;
            let mut ivar = f.read_image_rows::<f32>(&cam.flux_shape, rows.clone())?;
            let mut mask = if cam.has_mask {
                f.move_to(&hdu("MASK"))?;
                f.read_mask_image_rows(&cam.mask_shape, rows.clone())?
            } else {
                vec![0; rows.len() * nwave]
            };
            f.move_to(&hdu("RESOLUTION"))?;
            let resolution = f.read_image_rows::<f32>(&cam.resolution_shape, rows.clone())?;
            for (i, &tid) in targetid.iter().enumerate() {
                let mut bad = 0usize;
                for j in i * nwave..(i + 1) * nwave {
                    if !flux[j].is_finite() || !ivar[j].is_finite() || ivar[j] < 0.0 {
                        flux[j] = 0.0;
                        ivar[j] = 0.0;
                        mask[j] |= MASK_NONFINITE;
                        bad += 1;
                    }
                }
                if bad > 0 {
                    issues.push(ObjectIssue {
                        targetid: tid,
                        problem: format!(
                            "{bad} pixels of camera {} had non-finite flux/ivar or negative ivar; set to ivar=0 and masked",
                            cam.name
                        ),
                    });
                }
            }
            cameras.push(Camera {
                name: cam.name.to_ascii_lowercase(),
                wavelength: cam.wavelength.clone(),
                flux,
                ivar,
                mask,
                resolution,
                ndiag: cam.ndiag,
            });
        }
        for issue in &issues {
            tracing::warn!(file = %self.path.display(), targetid = issue.targetid, "{}", issue.problem);
        }
        let whole = rows.start == 0 && rows.end == self.targetid.len();
        let slice = |b: &RecordBatch| if whole { b.clone() } else { b.slice(rows.start, rows.len()) };
        let exp_fibermap = match &self.exp_fibermap {
            Some(e) if !whole => Some(exposures_of(e, &targetid, &self.path)?),
            other => other.clone(),
        };
        Ok(Coadd {
            path: self.path.clone(),
            keywords: self.keywords.clone(),
            targetid,
            fibermap: slice(&self.fibermap),
            exp_fibermap,
            scores: self.scores.as_ref().map(slice),
            cameras,
            issues,
        })
    }
}

/// The EXP_FIBERMAP rows of these targets, in file order.
fn exposures_of(exp: &RecordBatch, targetids: &[i64], path: &Path) -> Result<RecordBatch> {
    let Some(ids) = crate::columns::optional_i64(exp, "TARGETID") else { return Ok(exp.clone()) };
    let wanted: std::collections::HashSet<i64> = targetids.iter().copied().collect();
    let keep = arrow_array::BooleanArray::from(ids.iter().map(|t| wanted.contains(t)).collect::<Vec<_>>());
    arrow_select::filter::filter_record_batch(exp, &keep).map_err(|source| DesiIoError::Arrow {
        path: path.into(),
        context: "selecting a chunk's EXP_FIBERMAP rows",
        source,
    })
}

/// Reads a whole coadd file: tables, and every camera found among B, R, Z (see
/// [`CoaddReader`] to read it in chunks).
///
/// # Errors
/// As [`CoaddReader::open`] and [`CoaddReader::read_rows`].
pub fn read_coadd(path: impl AsRef<Path>) -> Result<Coadd> {
    let mut reader = CoaddReader::open(path)?;
    let n = reader.len();
    reader.read_rows(0..n)
}

/// Survey and program of a coadd, in order of authority: the PRIMARY header, the file
/// name `coadd-<survey>-<program>-<pixel>.fits`, the FIBERMAP header or
/// `SURVEY`/`PROGRAM` columns, then what the user says (for files that say nothing,
/// such as tile-based coadds), and last (survey only) the prefix of the targeting
/// columns (`SV1_DESI_TARGET` ⇒ `sv1`).
///
/// # Errors
/// [`DesiIoError::Metadata`] when either cannot be determined; the message says
/// which option supplies it.
pub fn resolve_survey_program(coadd: &Coadd, user_survey: Option<&str>, user_program: Option<&str>) -> Result<(String, String)> {
    resolve_survey_program_of(&coadd.path, &coadd.keywords, &coadd.fibermap, user_survey, user_program)
}

/// [`resolve_survey_program`] from a coadd's path, header facts and FIBERMAP.
pub(crate) fn resolve_survey_program_of(
    path: &Path,
    k: &FileKeywords,
    fibermap: &RecordBatch,
    user_survey: Option<&str>,
    user_program: Option<&str>,
) -> Result<(String, String)> {
    let from_name = crate::layout::parse_coadd_name(path);
    let column_value = |name: &str| optional_str(fibermap, name).and_then(|v| v.into_iter().next()).filter(|s| !s.is_empty());
    let survey = k
        .survey
        .clone()
        .or_else(|| from_name.as_ref().map(|n| n.survey.clone()))
        .or_else(|| k.fibermap_survey.clone())
        .or_else(|| column_value("SURVEY"))
        .or_else(|| user_survey.map(str::to_string))
        .or_else(|| survey_from_target_columns(fibermap));
    let program = k
        .program
        .clone()
        .or_else(|| from_name.as_ref().map(|n| n.program.clone()))
        .or_else(|| k.fibermap_program.clone())
        .or_else(|| column_value("PROGRAM"))
        .or_else(|| user_program.map(str::to_string));
    match (survey, program) {
        (Some(s), Some(p)) => Ok((s.to_lowercase(), p.to_lowercase())),
        (s, p) => Err(DesiIoError::Metadata {
            path: path.to_path_buf(),
            message: format!(
                "cannot tell the {} of this coadd (no PRIMARY keyword, coadd-<survey>-<program>-<pixel>.fits name, FIBERMAP keyword or column){}; give it with {}",
                match (&s, &p) {
                    (None, None) => "survey and program",
                    (None, _) => "survey",
                    _ => "program",
                },
                s.map(|s| format!(" (survey is '{s}')")).unwrap_or_default(),
                match p {
                    None => "--program (and --survey if needed)",
                    Some(_) => "--survey",
                }
            ),
        }),
    }
}

fn survey_from_target_columns(fibermap: &RecordBatch) -> Option<String> {
    let schema = fibermap.schema();
    for survey in ["sv1", "sv2", "sv3"] {
        let col = format!("{}_DESI_TARGET", survey.to_uppercase());
        if schema.field_with_name(&col).is_ok() {
            return Some(survey.into());
        }
    }
    if schema.field_with_name("CMX_TARGET").is_ok() {
        return Some("cmx".into());
    }
    None
}
