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
//! | *stage arrays* | float32 (uint8 for a flag) | N × 7781 | what the layers store per pixel ([`ard_core::GridArraySpec`]): the physics fit's `model`, `model_lines` and `fit_mask`; same chunking |
//!
//! Object-header time stamps are switched off so that a re-run writes the same bytes.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ard_core::GridArraySpec;
use hdf5::types::FixedAscii;
use ndarray::{Array1, ArrayView2};

use crate::StoreError;

/// Width of the survey/program strings.
pub const NAME_WIDTH: usize = 16;

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
    /// The layers' arrays on the same grid, by dataset name ([`ard_core::names::MODEL`],
    /// …) in name order, flags as 0.0/1.0; empty where the ARD was built without them.
    pub arrays: Vec<(String, Vec<f32>)>,
}

impl Spectrum {
    /// The layer array `name` ([`ard_core::names::MODEL`], …), if the file has it.
    pub fn array(&self, name: &str) -> Option<&[f32]> {
        self.arrays.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

/// The datasets every spectra file has (the layers' arrays are the others of rank 2).
const CORE_DATASETS: [&str; 8] = ["targetid", "survey", "program", "z", "wavelength", "flux", "ivar", "mask"];

fn h5err(path: &Path, e: hdf5::Error) -> StoreError {
    StoreError::Hdf5 { path: path.to_path_buf(), source: e }
}

fn ascii(path: &Path, s: &str) -> Result<FixedAscii<NAME_WIDTH>, StoreError> {
    FixedAscii::<NAME_WIDTH>::from_ascii(s.as_bytes()).map_err(|e| StoreError::Layout {
        path: path.to_path_buf(),
        message: format!("survey/program {s:?} is not ASCII of at most {NAME_WIDTH} bytes: {e}"),
    })
}

/// Key and redshift of one spectrum row.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumKey {
    /// TARGETID.
    pub targetid: i64,
    /// Survey.
    pub survey: String,
    /// Program.
    pub program: String,
    /// Redshift.
    pub z: f64,
}

/// Spectra written in blocks of this many rows: a block is all a writer holds.
pub const WRITE_BLOCK_ROWS: usize = 256;

/// A pixel's spectra as they are computed, kept in a spill file on disk (not in
/// memory) in arrival order; [`SpectraSpill::write_sorted`] writes them, sorted by key,
/// into the pixel's HDF5 file a block at a time. The spill file is removed when the
/// value is dropped (and, after a crash, by the next run's clean-up of temporaries,
/// when it was named by [`crate::atomic::Staging::path_for`]).
#[derive(Debug)]
pub struct SpectraSpill {
    path: PathBuf,
    file: File,
    wavelength: Vec<f64>,
    keys: Vec<SpectrumKey>,
    arrays: Vec<GridArraySpec>,
}

impl SpectraSpill {
    /// Creates the spill file for spectra that come with the layer arrays `arrays`.
    ///
    /// # Errors
    /// [`StoreError::Io`] when it cannot be created.
    pub fn create(path: &Path, arrays: &[GridArraySpec]) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        let file = File::options().read(true).write(true).create(true).truncate(true).open(path).map_err(|e| StoreError::io(path, e))?;
        Ok(SpectraSpill { path: path.to_path_buf(), file, wavelength: Vec::new(), keys: Vec::new(), arrays: arrays.to_vec() })
    }

    /// Number of spectra.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no spectrum was added.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Drops every spectrum after the first `n` (those of an input that then failed).
    pub fn truncate(&mut self, n: usize) {
        self.keys.truncate(n);
    }

    /// Bytes of one row: flux, ivar, mask and each layer array (4 bytes each per wavelength).
    fn row_bytes(&self) -> usize {
        self.wavelength.len() * 4 * (3 + self.arrays.len())
    }

    /// Adds one spectrum on the grid `wavelength` (every spectrum of a pixel shares it),
    /// with one row of each layer array, in the order given to [`SpectraSpill::create`].
    ///
    /// # Errors
    /// A grid other than the first spectrum's, arrays not of the grid's length, or the
    /// write failing.
    pub fn push(
        &mut self,
        wavelength: &[f64],
        key: SpectrumKey,
        flux: &[f32],
        ivar: &[f32],
        mask: &[i32],
        arrays: &[&[f32]],
    ) -> Result<(), StoreError> {
        if self.keys.is_empty() && self.wavelength.is_empty() {
            self.wavelength = wavelength.to_vec();
        }
        let nw = self.wavelength.len();
        if arrays.len() != self.arrays.len() {
            return Err(StoreError::Layout {
                path: self.path.clone(),
                message: format!(
                    "spectrum of TARGETID {} came with {} layer arrays, not {}",
                    key.targetid,
                    arrays.len(),
                    self.arrays.len()
                ),
            });
        }
        if wavelength != self.wavelength.as_slice()
            || flux.len() != nw
            || ivar.len() != nw
            || mask.len() != nw
            || arrays.iter().any(|a| a.len() != nw)
        {
            return Err(StoreError::Layout {
                path: self.path.clone(),
                message: format!(
                    "spectrum of TARGETID {} is not on the pixel's {nw}-pixel wavelength grid (got {} wavelengths, {} flux values)",
                    key.targetid,
                    wavelength.len(),
                    flux.len()
                ),
            });
        }
        let mut row = Vec::with_capacity(self.row_bytes());
        row.extend(flux.iter().flat_map(|v| v.to_le_bytes()));
        row.extend(ivar.iter().flat_map(|v| v.to_le_bytes()));
        row.extend(mask.iter().flat_map(|v| v.to_le_bytes()));
        for a in arrays {
            row.extend(a.iter().flat_map(|v| v.to_le_bytes()));
        }
        let offset = (self.keys.len() * self.row_bytes()) as u64;
        self.file.write_all_at(&row, offset).map_err(|e| StoreError::io(&self.path, e))?;
        self.keys.push(key);
        Ok(())
    }

    /// Writes the spectra into a new HDF5 file at `path`, sorted by (targetid, survey,
    /// program); equal keys keep the order they were added in.
    ///
    /// # Errors
    /// Reading the spill file, or writing the HDF5 file.
    pub fn write_sorted(&self, path: &Path) -> Result<(), StoreError> {
        let mut order: Vec<usize> = (0..self.keys.len()).collect();
        order.sort_by(|&a, &b| {
            let (ka, kb) = (&self.keys[a], &self.keys[b]);
            (ka.targetid, &ka.survey, &ka.program).cmp(&(kb.targetid, &kb.survey, &kb.program))
        });
        let keys: Vec<SpectrumKey> = order.iter().map(|&i| self.keys[i].clone()).collect();
        let nw = self.wavelength.len();
        let mut row = vec![0u8; self.row_bytes()];
        write_rows(path, &keys, &self.wavelength, &self.arrays, |rows, block| {
            for &i in &order[rows] {
                let offset = (i * row.len()) as u64;
                self.file.read_exact_at(&mut row, offset).map_err(|e| StoreError::io(&self.path, e))?;
                let word = |k: usize| [row[4 * k], row[4 * k + 1], row[4 * k + 2], row[4 * k + 3]];
                block.flux.extend((0..nw).map(|k| f32::from_le_bytes(word(k))));
                block.ivar.extend((nw..2 * nw).map(|k| f32::from_le_bytes(word(k))));
                block.mask.extend((2 * nw..3 * nw).map(|k| i32::from_le_bytes(word(k))));
                for (a, values) in block.arrays.iter_mut().enumerate() {
                    let at = (3 + a) * nw;
                    values.extend((at..at + nw).map(|k| f32::from_le_bytes(word(k))));
                }
            }
            Ok(())
        })
    }
}

impl Drop for SpectraSpill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One block of rows on its way into the file.
#[derive(Default)]
struct Block {
    flux: Vec<f32>,
    ivar: Vec<f32>,
    mask: Vec<i32>,
    arrays: Vec<Vec<f32>>,
}

/// Writes spectra whose rows come from `fill` (which appends rows `rows` to the block's
/// flux, ivar, mask and layer arrays), [`WRITE_BLOCK_ROWS`] at a time; `keys` are the
/// rows in file order.
fn write_rows(
    path: &Path,
    keys: &[SpectrumKey],
    wavelength: &[f64],
    arrays: &[GridArraySpec],
    mut fill: impl FnMut(std::ops::Range<usize>, &mut Block) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let n = keys.len();
    let nw = wavelength.len();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    }
    let file = hdf5::File::with_options().with_fcpl(|p| p.obj_track_times(false)).create(path).map_err(|e| h5err(path, e))?;
    let sv: Vec<FixedAscii<NAME_WIDTH>> = keys.iter().map(|k| ascii(path, &k.survey)).collect::<Result<_, _>>()?;
    let pv: Vec<FixedAscii<NAME_WIDTH>> = keys.iter().map(|k| ascii(path, &k.program)).collect::<Result<_, _>>()?;
    macro_rules! small {
        ($name:expr, $data:expr) => {
            file.new_dataset_builder().obj_track_times(false).with_data(&$data).create($name).map_err(|e| h5err(path, e))?
        };
    }
    small!("targetid", Array1::from_iter(keys.iter().map(|k| k.targetid)));
    small!("survey", Array1::from(sv));
    small!("program", Array1::from(pv));
    small!("z", Array1::from_iter(keys.iter().map(|k| k.z)));
    let w = small!("wavelength", Array1::from(wavelength.to_vec()));
    w.new_attr_builder()
        .with_data(&ndarray::arr0(FixedAscii::<16>::from_ascii(b"Angstrom").unwrap_or_default()))
        .create("unit")
        .map_err(|e| h5err(path, e))?;
    if n == 0 {
        file.flush().map_err(|e| h5err(path, e))?;
        return Ok(());
    }
    macro_rules! array {
        ($t:ty, $name:expr) => {
            file.new_dataset::<$t>()
                .obj_track_times(false)
                .chunk((1, nw))
                .shuffle()
                .deflate(4)
                .shape((n, nw))
                .create($name)
                .map_err(|e| h5err(path, e))?
        };
    }
    let flux_ds = array!(f32, "flux");
    let ivar_ds = array!(f32, "ivar");
    let mask_ds = array!(i32, "mask");
    let attr = |d: &hdf5::Dataset, key: &str, text: &str| -> Result<(), StoreError> {
        let bytes: Vec<u8> = text.bytes().filter(u8::is_ascii).collect();
        let v = hdf5::types::VarLenAscii::from_ascii(&bytes).unwrap_or_default();
        d.new_attr_builder().with_data(&ndarray::arr0(v)).create(key).map_err(|e| h5err(path, e))?;
        Ok(())
    };
    for (d, unit) in [(&flux_ds, "1e-17 erg/(s cm2 Angstrom)"), (&ivar_ds, "1e+34 (s2 cm4 Angstrom2)/erg2")] {
        let u = FixedAscii::<32>::from_ascii(unit.as_bytes()).unwrap_or_default();
        d.new_attr_builder().with_data(&ndarray::arr0(u)).create("unit").map_err(|e| h5err(path, e))?;
    }
    let mut array_ds = Vec::with_capacity(arrays.len());
    for spec in arrays {
        let d = if spec.flag { array!(u8, spec.name.as_str()) } else { array!(f32, spec.name.as_str()) };
        if !spec.unit.is_empty() {
            attr(&d, "unit", &spec.unit)?;
        }
        attr(&d, "description", &spec.description)?;
        array_ds.push(d);
    }
    let mut block = Block { arrays: vec![Vec::new(); arrays.len()], ..Block::default() };
    for start in (0..n).step_by(WRITE_BLOCK_ROWS) {
        let rows = start..(start + WRITE_BLOCK_ROWS).min(n);
        block.flux.clear();
        block.ivar.clear();
        block.mask.clear();
        block.arrays.iter_mut().for_each(Vec::clear);
        fill(rows.clone(), &mut block)?;
        let want = rows.len() * nw;
        let Block { flux, ivar, mask, arrays: values } = &block;
        if flux.len() != want || ivar.len() != want || mask.len() != want || values.iter().any(|v| v.len() != want) {
            return Err(StoreError::Layout {
                path: path.to_path_buf(),
                message: format!("spectra rows {}..{} came with the wrong number of values (want {want})", rows.start, rows.end),
            });
        }
        let shape = (rows.len(), nw);
        let sel = ndarray::s![rows.start..rows.end, ..];
        // The lengths were checked just above, so the views always fit.
        let misfit = |_| StoreError::Layout { path: path.to_path_buf(), message: "a spectra block of the wrong shape".into() };
        flux_ds.write_slice(&ArrayView2::from_shape(shape, flux.as_slice()).map_err(misfit)?, sel).map_err(|e| h5err(path, e))?;
        ivar_ds.write_slice(&ArrayView2::from_shape(shape, ivar.as_slice()).map_err(misfit)?, sel).map_err(|e| h5err(path, e))?;
        mask_ds.write_slice(&ArrayView2::from_shape(shape, mask.as_slice()).map_err(misfit)?, sel).map_err(|e| h5err(path, e))?;
        for ((spec, d), v) in arrays.iter().zip(&array_ds).zip(values) {
            if spec.flag {
                let bytes: Vec<u8> = v.iter().map(|&x| u8::from(x != 0.0)).collect();
                d.write_slice(&ArrayView2::from_shape(shape, bytes.as_slice()).map_err(misfit)?, sel).map_err(|e| h5err(path, e))?;
            } else {
                d.write_slice(&ArrayView2::from_shape(shape, v.as_slice()).map_err(misfit)?, sel).map_err(|e| h5err(path, e))?;
            }
        }
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
    let mut arrays = Vec::new();
    for name in file.member_names().map_err(|e| h5err(path, e))? {
        if CORE_DATASETS.contains(&name.as_str()) {
            continue;
        }
        let d = ds(&name)?;
        if d.ndim() != 2 {
            continue;
        }
        // Flags are bytes, the others float32; both read back as f32.
        let values: Array1<f32> = d.read_slice_1d((row, ..)).map_err(|e| h5err(path, e))?;
        arrays.push((name, values.to_vec()));
    }
    Ok(Some(Spectrum {
        targetid,
        survey: surveys[row].as_str().to_string(),
        program: programs[row].as_str().to_string(),
        z: z[row],
        wavelength,
        flux: row_of("flux")?,
        ivar: row_of("ivar")?,
        mask: mask.to_vec(),
        arrays,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(targetid: i64, program: &str) -> SpectrumKey {
        SpectrumKey { targetid, survey: "main".into(), program: program.into(), z: targetid as f64 / 10.0 }
    }

    #[test]
    fn a_spill_writes_its_rows_sorted_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let spill_path = dir.path().join("spill");
        let wave = [3600.0, 3600.8, 3601.6];
        // Two layer arrays: a float one and a flag.
        let spec = |name: &str, flag| GridArraySpec { name: name.into(), unit: String::new(), description: "test".into(), flag };
        let mut spill = SpectraSpill::create(&spill_path, &[spec("model", false), spec("fit_mask", true)]).unwrap();
        // More rows than a write block, in descending TARGETID, each row its own values.
        let n = WRITE_BLOCK_ROWS + 5;
        for t in (0..n as i64).rev() {
            let v = t as f32;
            let (model, flag) = ([-v, f32::NAN, 0.5], [1.0, 0.0, 1.0]);
            spill.push(&wave, key(t, "dark"), &[v, v + 0.25, v + 0.5], &[1.0, 2.0, v], &[0, t as i32, 1 << 30], &[&model, &flag]).unwrap();
        }
        // An input that then failed: its rows are taken back.
        spill.push(&wave, key(-5, "bright"), &[9.0; 3], &[9.0; 3], &[9; 3], &[&[9.0; 3], &[1.0; 3]]).unwrap();
        spill.truncate(n);
        let err = spill.push(&wave[..2], key(7, "bright"), &[0.0; 2], &[0.0; 2], &[0; 2], &[&[0.0; 2], &[0.0; 2]]).unwrap_err().to_string();
        assert!(err.contains("TARGETID 7") && err.contains("3-pixel wavelength grid"), "{err}");
        let h5 = dir.path().join("p.h5");
        spill.write_sorted(&h5).unwrap();
        drop(spill);
        assert!(!spill_path.exists(), "the spill file is removed with the spill");
        let keys = read_keys(&h5).unwrap();
        assert_eq!(keys.len(), n);
        assert!(keys.windows(2).all(|w| w[0].0 < w[1].0), "sorted by TARGETID");
        let s = read_spectrum(&h5, 260, None, None).unwrap().unwrap();
        assert_eq!(
            (s.flux.clone(), s.ivar.clone(), s.mask.clone(), s.z),
            (vec![260.0, 260.25, 260.5], vec![1.0, 2.0, 260.0], vec![0, 260, 1 << 30], 26.0)
        );
        assert_eq!(s.wavelength, wave);
        let model = s.array("model").unwrap();
        assert_eq!((model[0], model[2]), (-260.0, 0.5));
        assert!(model[1].is_nan());
        assert_eq!(s.array("fit_mask").unwrap(), [1.0, 0.0, 1.0]);
        assert_eq!(s.arrays.len(), 2);
        assert!(read_spectrum(&h5, -5, None, None).unwrap().is_none());
    }
}
