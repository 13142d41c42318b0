//! Writing DESI-format files, HDU for HDU as `desispec.io.write_spectra` and
//! `redrock.external.desi.write_zbest` lay them out, so that the simulator's output
//! is read by the same code (and by desispec) as real data. Files are written to a
//! temporary name and renamed, so a crash never leaves half a file.

use std::path::{Path, PathBuf};

use ard_fits::{FitsFile, Key, RecordBatch};

use crate::coadd::Camera;
use crate::error::{DesiIoError, Result};

/// Flux unit of DESI coadds (BUNIT of `*_FLUX`).
pub const FLUX_UNIT: &str = "10**-17 erg/(s cm2 Angstrom)";
/// Inverse-variance unit of DESI coadds (BUNIT of `*_IVAR`).
pub const IVAR_UNIT: &str = "10**+34 (s2 cm4 Angstrom2) / erg2";

/// Everything a coadd file holds.
#[derive(Debug, Clone)]
pub struct CoaddContents<'a> {
    /// PRIMARY keywords (SURVEY, PROGRAM, SPGRP, HPXPIXEL, ...).
    pub primary: Vec<Key>,
    /// FIBERMAP.
    pub fibermap: &'a RecordBatch,
    /// FIBERMAP header keywords.
    pub fibermap_keys: Vec<Key>,
    /// EXP_FIBERMAP.
    pub exp_fibermap: Option<&'a RecordBatch>,
    /// Cameras, written in this order.
    pub cameras: &'a [Camera],
    /// SCORES.
    pub scores: Option<&'a RecordBatch>,
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out.fits");
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn finish(tmp: &Path, path: &Path, f: FitsFile) -> Result<()> {
    f.close()?;
    std::fs::rename(tmp, path).map_err(|source| DesiIoError::Io { path: path.into(), source })
}

/// Writes a coadd file atomically.
pub fn write_coadd(path: &Path, c: &CoaddContents<'_>) -> Result<()> {
    let tmp = temp_path(path);
    let mut f = FitsFile::create(&tmp)?;
    f.write_primary(&c.primary)?;
    let mut fm_keys = c.fibermap_keys.clone();
    fm_keys.push(Key::str("LONGSTRN", "OGIP 1.0", "The OGIP long string convention may be used"));
    f.write_table("FIBERMAP", c.fibermap, &fm_keys)?;
    if let Some(e) = c.exp_fibermap {
        f.write_table("EXP_FIBERMAP", e, &[])?;
    }
    let nspec = c.fibermap.num_rows();
    for cam in c.cameras {
        let up = cam.name.to_uppercase();
        let n = cam.nwave();
        f.write_image(&format!("{up}_WAVELENGTH"), &[n], &cam.wavelength, &[Key::str("BUNIT", "Angstrom", "")])?;
        f.write_image(&format!("{up}_FLUX"), &[nspec, n], &cam.flux, &[Key::str("BUNIT", FLUX_UNIT, "")])?;
        f.write_image(&format!("{up}_IVAR"), &[nspec, n], &cam.ivar, &[Key::str("BUNIT", IVAR_UNIT, "")])?;
        f.write_image(&format!("{up}_MASK"), &[nspec, n], &cam.mask, &[])?;
        f.write_image(&format!("{up}_RESOLUTION"), &[nspec, cam.ndiag, n], &cam.resolution, &[])?;
    }
    if let Some(s) = c.scores {
        f.write_table("SCORES", s, &[])?;
    }
    finish(&tmp, path, f)
}

/// Writes a redrock file atomically: PRIMARY, REDSHIFTS, FIBERMAP, EXP_FIBERMAP, TSNR2.
pub fn write_redrock(
    path: &Path,
    primary: &[Key],
    redshifts: &RecordBatch,
    fibermap: &RecordBatch,
    exp_fibermap: Option<&RecordBatch>,
    tsnr2: Option<&RecordBatch>,
) -> Result<()> {
    let tmp = temp_path(path);
    let mut f = FitsFile::create(&tmp)?;
    f.write_primary(primary)?;
    f.write_table("REDSHIFTS", redshifts, &[])?;
    f.write_table("FIBERMAP", fibermap, &[])?;
    if let Some(e) = exp_fibermap {
        f.write_table("EXP_FIBERMAP", e, &[])?;
    }
    if let Some(t) = tsnr2 {
        f.write_table("TSNR2", t, &[])?;
    }
    finish(&tmp, path, f)
}
