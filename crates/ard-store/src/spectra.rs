//! Spectra files: one HDF5 file per pixel version, `spectra/Norder=6/Dir=D/Npix=P.vID.h5`
//! (the catalogue leaf names the current one: [`crate::pixel::PixelVersion`]).
//!
//! Flat datasets whose first axis is the object, sorted by (targetid, survey,
//! program) so that a TARGETID is found by binary search (layout close to the
//! Multimodal Universe DESI files, readable by h5py with no plugins):
//!
//! | dataset | type | shape | notes |
//! |---|---|---|---|
//! | `targetid` | int64 | N | sorted |
//! | `survey`, `program` | fixed ASCII 16 | N | |
//! | `z` | float64 | N | redshift (redrock) |
//! | `wavelength` | float64 | 7781 | Å, vacuum, brz grid |
//! | `flux` | float32 | N × 7781 | 1e-17 erg/s/cm²/Å; chunks of 1 spectrum, shuffle + deflate |
//! | `ivar` | float32 | N × 7781 | same chunking |
//! | `mask` | int32 | N × 7781 | desispec mask bits |
//!
//! Object-header time stamps are switched off so that a re-run writes the same bytes.

use std::path::Path;

use hdf5::types::FixedAscii;
use ndarray::{Array1, Array2, ArrayView2};

use crate::StoreError;

/// Width of the survey/program strings.
pub const NAME_WIDTH: usize = 16;

/// Spectra of one pixel, in memory, sorted by key.
#[derive(Debug, Clone, Default)]
pub struct PixelSpectra {
    /// TARGETID.
    pub targetid: Vec<i64>,
    /// Survey.
    pub survey: Vec<String>,
    /// Program.
    pub program: Vec<String>,
    /// Redshift.
    pub z: Vec<f64>,
    /// Wavelength grid.
    pub wavelength: Vec<f64>,
    /// Flux, N × nwave.
    pub flux: Vec<f32>,
    /// Inverse variance, N × nwave.
    pub ivar: Vec<f32>,
    /// Mask, N × nwave.
    pub mask: Vec<i32>,
}

/// One spectrum read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    /// TARGETID.
    pub targetid: i64,
    /// Survey.
    pub survey: String,
    /// Program.
    pub program: String,
    /// Redshift.
    pub z: f64,
    /// Wavelength, Å.
    pub wavelength: Vec<f64>,
    /// Flux.
    pub flux: Vec<f32>,
    /// Inverse variance.
    pub ivar: Vec<f32>,
    /// Mask.
    pub mask: Vec<i32>,
}

fn h5err(path: &Path, e: hdf5::Error) -> StoreError {
    StoreError::Hdf5 { path: path.to_path_buf(), source: e }
}

fn ascii(path: &Path, s: &str) -> Result<FixedAscii<NAME_WIDTH>, StoreError> {
    FixedAscii::<NAME_WIDTH>::from_ascii(s.as_bytes()).map_err(|e| StoreError::Layout {
        path: path.to_path_buf(),
        message: format!("survey/program {s:?} is not ASCII of at most {NAME_WIDTH} bytes: {e}"),
    })
}

/// Writes a pixel's spectra (the caller renames the file into place).
pub fn write_pixel_spectra(path: &Path, s: &PixelSpectra) -> Result<(), StoreError> {
    let n = s.targetid.len();
    let nw = s.wavelength.len();
    if s.flux.len() != n * nw || s.ivar.len() != n * nw || s.mask.len() != n * nw {
        return Err(StoreError::Layout {
            path: path.to_path_buf(),
            message: format!("spectra arrays do not match {n} objects × {nw} pixels"),
        });
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    }
    let file = hdf5::File::with_options().with_fcpl(|p| p.obj_track_times(false)).create(path).map_err(|e| h5err(path, e))?;
    let shape2 = |v: &[f32]| ArrayView2::from_shape((n, nw), v).map(|a| a.to_owned());
    let sv: Vec<FixedAscii<NAME_WIDTH>> = s.survey.iter().map(|x| ascii(path, x)).collect::<Result<_, _>>()?;
    let pv: Vec<FixedAscii<NAME_WIDTH>> = s.program.iter().map(|x| ascii(path, x)).collect::<Result<_, _>>()?;
    macro_rules! small {
        ($name:expr, $data:expr) => {
            file.new_dataset_builder().obj_track_times(false).with_data(&$data).create($name).map_err(|e| h5err(path, e))?
        };
    }
    small!("targetid", Array1::from(s.targetid.clone()));
    small!("survey", Array1::from(sv));
    small!("program", Array1::from(pv));
    small!("z", Array1::from(s.z.clone()));
    let w = small!("wavelength", Array1::from(s.wavelength.clone()));
    w.new_attr_builder()
        .with_data(&ndarray::arr0(FixedAscii::<16>::from_ascii(b"Angstrom").unwrap_or_default()))
        .create("unit")
        .map_err(|e| h5err(path, e))?;
    if n > 0 {
        let chunk = (1, nw);
        // The one way these fail: an array whose length is not spectra × wavelengths.
        let misfit = |name: &str, len: usize| StoreError::Layout {
            path: path.to_path_buf(),
            message: format!("{name} has {len} values, expected {n} spectra × {nw} wavelengths"),
        };
        let flux = shape2(&s.flux).map_err(|_| misfit("flux", s.flux.len()))?;
        let ivar = shape2(&s.ivar).map_err(|_| misfit("ivar", s.ivar.len()))?;
        let mask = Array2::from_shape_vec((n, nw), s.mask.clone()).map_err(|_| misfit("mask", s.mask.len()))?;
        for (name, data, unit) in [("flux", &flux, "1e-17 erg/(s cm2 Angstrom)"), ("ivar", &ivar, "1e+34 (s2 cm4 Angstrom2)/erg2")] {
            let d = file
                .new_dataset_builder()
                .obj_track_times(false)
                .chunk(chunk)
                .shuffle()
                .deflate(4)
                .with_data(data)
                .create(name)
                .map_err(|e| h5err(path, e))?;
            let u = FixedAscii::<32>::from_ascii(unit.as_bytes()).unwrap_or_default();
            d.new_attr_builder().with_data(&ndarray::arr0(u)).create("unit").map_err(|e| h5err(path, e))?;
        }
        file.new_dataset_builder()
            .obj_track_times(false)
            .chunk(chunk)
            .shuffle()
            .deflate(4)
            .with_data(&mask)
            .create("mask")
            .map_err(|e| h5err(path, e))?;
    }
    file.flush().map_err(|e| h5err(path, e))?;
    Ok(())
}

/// The (targetid, survey, program) keys of a pixel file, in file order.
pub fn read_keys(path: &Path) -> Result<Vec<(i64, String, String)>, StoreError> {
    let file = hdf5::File::open(path).map_err(|e| h5err(path, e))?;
    let ds = |name: &str| file.dataset(name).map_err(|e| h5err(path, e));
    let ids: Vec<i64> = ds("targetid")?.read_raw().map_err(|e| h5err(path, e))?;
    let surveys: Vec<FixedAscii<NAME_WIDTH>> = ds("survey")?.read_raw().map_err(|e| h5err(path, e))?;
    let programs: Vec<FixedAscii<NAME_WIDTH>> = ds("program")?.read_raw().map_err(|e| h5err(path, e))?;
    Ok(ids.into_iter().zip(surveys).zip(programs).map(|((t, s), p)| (t, s.as_str().to_string(), p.as_str().to_string())).collect())
}

/// Reads the spectrum of (targetid, survey, program) from a pixel file; with
/// `survey`/`program` `None`, the first row of that TARGETID.
pub fn read_spectrum(path: &Path, targetid: i64, survey: Option<&str>, program: Option<&str>) -> Result<Option<Spectrum>, StoreError> {
    let file = hdf5::File::open(path).map_err(|e| h5err(path, e))?;
    let ds = |name: &str| file.dataset(name).map_err(|e| h5err(path, e));
    let ids: Vec<i64> = ds("targetid")?.read_raw().map_err(|e| h5err(path, e))?;
    let start = ids.partition_point(|&t| t < targetid);
    let end = ids.partition_point(|&t| t <= targetid);
    if start == end {
        return Ok(None);
    }
    let surveys: Vec<FixedAscii<NAME_WIDTH>> = ds("survey")?.read_raw().map_err(|e| h5err(path, e))?;
    let programs: Vec<FixedAscii<NAME_WIDTH>> = ds("program")?.read_raw().map_err(|e| h5err(path, e))?;
    let Some(row) =
        (start..end).find(|&i| survey.is_none_or(|s| surveys[i].as_str() == s) && program.is_none_or(|p| programs[i].as_str() == p))
    else {
        return Ok(None);
    };
    let wavelength: Vec<f64> = ds("wavelength")?.read_raw().map_err(|e| h5err(path, e))?;
    let z: Vec<f64> = ds("z")?.read_raw().map_err(|e| h5err(path, e))?;
    let row_of = |name: &str| -> Result<Vec<f32>, StoreError> {
        let a: Array1<f32> = ds(name)?.read_slice_1d((row, ..)).map_err(|e| h5err(path, e))?;
        Ok(a.to_vec())
    };
    let mask: Array1<i32> = ds("mask")?.read_slice_1d((row, ..)).map_err(|e| h5err(path, e))?;
    Ok(Some(Spectrum {
        targetid,
        survey: surveys[row].as_str().to_string(),
        program: programs[row].as_str().to_string(),
        z: z[row],
        wavelength,
        flux: row_of("flux")?,
        ivar: row_of("ivar")?,
        mask: mask.to_vec(),
    }))
}
