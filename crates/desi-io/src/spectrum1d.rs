//! One-dimensional spectra from outside the DESI tree — an SDSS `spec` file, or a FITS or
//! CSV table of wavelength, flux and ivar (or error) — brought to what the physics layer
//! reads for a DESI spectrum: observed **vacuum** wavelengths, flux, ivar, a mask and the
//! Gaussian σ (Å) of the line-spread function at each pixel, from which `desi-ard fit`
//! builds a resolution matrix in desispec's layout (`ssp::ops::gaussian_resolution_angstrom`).
//!
//! The formats:
//! - **SDSS `spec`** (DR8 and later, e.g. the DR18 files pPXF ships): HDU `COADD` with
//!   `loglam` (log10 vacuum Å), `flux` (1e-17 erg/s/cm²/Å), `ivar`, `and_mask` and `wdisp`
//!   (the Gaussian σ of the line-spread function in pixels of the loglam grid), and HDU
//!   `SPECOBJ` with the pipeline's redshift `Z`.
//! - **A FITS table** (the first binary-table HDU with an EXTNAME) or a **CSV file** (a
//!   header line, `#` comments allowed) with a wavelength column (`wavelength`, `wave`,
//!   `lambda` or `lam`), `flux`, and `ivar` or an error (`error`, `err`, `sigma`, `noise`),
//!   optionally `mask` (non-zero = bad). FITS columns may be scalars over rows or one row
//!   of arrays. Names match ignoring case.
//!
//! SDSS wavelengths are vacuum; for a table the caller says which ([`Medium`]): air
//! wavelengths are moved to vacuum with `ard_core::wavelength::air_to_vacuum`, the exact
//! inverse of the conversion the physics layer applies.

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;

use ard_core::wavelength::air_to_vacuum;
use ard_fits::{FitsFile, HduKind};

use crate::error::{DesiIoError, Result};

/// FWHM of a Gaussian over its σ, 2√(2 ln 2).
const FWHM_PER_SIGMA: f64 = 2.354_820_045_030_949;

/// Whether a table's wavelengths are measured in air or in vacuum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    /// Standard air (E-MILES, Lick, most ground-based tables).
    Air,
    /// Vacuum (DESI, SDSS).
    Vacuum,
}

/// The line-spread function a caller gives for a spectrum whose file does not carry one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lsf {
    /// A constant Gaussian FWHM in Å (in the file's wavelength frame).
    FwhmAngstrom(f64),
    /// A constant resolving power R = λ / FWHM.
    ResolvingPower(f64),
}

/// A spectrum read by [`read_spectrum_1d`].
#[derive(Debug, Clone)]
pub struct Spectrum1d {
    /// The file.
    pub path: PathBuf,
    /// What the file was read as (`SDSS spec`, `FITS table HDU NAME`, `CSV`).
    pub format: String,
    /// Observed vacuum wavelengths, Å, increasing.
    pub wave_vac: Vec<f64>,
    /// Flux density, in the file's units (SDSS: 1e-17 erg/s/cm²/Å).
    pub flux: Vec<f32>,
    /// Inverse variance of `flux` (0 where unusable).
    pub ivar: Vec<f32>,
    /// Non-zero where a pixel is bad.
    pub mask: Vec<i32>,
    /// The Gaussian σ of the line-spread function at each pixel, Å (vacuum), when the file
    /// records it (SDSS `wdisp`).
    pub lsf_sigma: Option<Vec<f64>>,
    /// The redshift the file records (SDSS `SPECOBJ.Z`).
    pub z: Option<f64>,
}

impl Spectrum1d {
    /// Number of pixels.
    pub fn len(&self) -> usize {
        self.wave_vac.len()
    }

    /// Whether it has no pixels.
    pub fn is_empty(&self) -> bool {
        self.wave_vac.is_empty()
    }

    /// The line-spread σ in Å at every pixel: the caller's `lsf` when given, else the
    /// file's own; an error naming the file when neither says it.
    pub fn sigma_angstrom(&self, lsf: Option<Lsf>) -> Result<Vec<f64>> {
        match (lsf, &self.lsf_sigma) {
            (Some(Lsf::FwhmAngstrom(fwhm)), _) if fwhm > 0.0 && fwhm.is_finite() => Ok(vec![fwhm / FWHM_PER_SIGMA; self.len()]),
            (Some(Lsf::ResolvingPower(r)), _) if r > 0.0 && r.is_finite() => {
                Ok(self.wave_vac.iter().map(|w| w / r / FWHM_PER_SIGMA).collect())
            }
            (Some(bad), _) => Err(self.problem(format!("the line-spread function must be positive and finite, got {bad:?}"))),
            (None, Some(sigma)) => Ok(sigma.clone()),
            (None, None) => Err(self.problem("the file records no line-spread function: give --fwhm Å or --resolving-power R".into())),
        }
    }

    fn problem(&self, message: String) -> DesiIoError {
        DesiIoError::Spectrum1d { path: self.path.clone(), message }
    }
}

/// Reads one spectrum (see the module docs for the formats). `medium` says whether a
/// table's wavelengths are air or vacuum; it is required for tables and, for an SDSS file,
/// may only confirm vacuum.
pub fn read_spectrum_1d(path: &Path, medium: Option<Medium>) -> Result<Spectrum1d> {
    let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("txt"));
    let problem = |message: String| DesiIoError::Spectrum1d { path: path.to_path_buf(), message };
    if is_csv {
        let medium = medium.ok_or_else(|| problem("say whether its wavelengths are --air or --vacuum".into()))?;
        let text = std::fs::read_to_string(path).map_err(|source| DesiIoError::Io { path: path.to_path_buf(), source })?;
        let (names, columns) = parse_csv(&text).map_err(problem)?;
        return from_columns(path, "CSV".into(), &names, columns, medium);
    }
    let mut f = FitsFile::open(path)?;
    let names = f.hdu_names()?;
    let has = |n: &str| names.iter().any(|h| h.eq_ignore_ascii_case(n));
    if has("COADD") && has("SPECOBJ") {
        if medium == Some(Medium::Air) {
            return Err(problem("an SDSS spec file has vacuum wavelengths; --air does not apply".into()));
        }
        return read_sdss(path, &mut f);
    }
    let medium = medium.ok_or_else(|| problem("say whether its wavelengths are --air or --vacuum".into()))?;
    for name in names.iter().skip(1) {
        if f.move_to(name)? == HduKind::BinaryTable {
            let batch = f.read_table()?;
            let names: Vec<String> = batch.schema().fields().iter().map(|c| c.name().clone()).collect();
            let columns = names.iter().map(|n| column_values(batch.column_by_name(n)?)).collect();
            return from_columns(path, format!("FITS table HDU {name}"), &names, columns, medium);
        }
    }
    Err(problem(format!("neither an SDSS spec file (HDUs COADD and SPECOBJ) nor a FITS table; HDUs: {}", names.join(", "))))
}

/// An SDSS `spec` file: COADD + SPECOBJ.
fn read_sdss(path: &Path, f: &mut FitsFile) -> Result<Spectrum1d> {
    f.move_to("COADD")?;
    let coadd = f.read_table()?;
    let get = |name: &str| -> Result<Vec<f64>> {
        column(&coadd, name).and_then(column_values).ok_or_else(|| DesiIoError::MissingColumn {
            path: path.to_path_buf(),
            hdu: "COADD".into(),
            column: name.into(),
        })
    };
    let loglam = get("loglam")?;
    let wave: Vec<f64> = loglam.iter().map(|l| 10f64.powf(*l)).collect();
    let flux = get("flux")?;
    let ivar = get("ivar")?;
    // A pixel bad in every exposure (and_mask) is bad in the coadd.
    let mask = column(&coadd, "and_mask").and_then(column_values).unwrap_or_else(|| vec![0.0; wave.len()]);
    let step = |j: usize| if j + 1 < wave.len() { wave[j + 1] - wave[j] } else { wave[j] - wave[j - 1] };
    let lsf_sigma = column(&coadd, "wdisp").and_then(column_values).map(|w| (0..wave.len()).map(|j| w[j] * step(j)).collect());
    f.move_to("SPECOBJ")?;
    let specobj = f.read_table()?;
    let z = column(&specobj, "z").and_then(column_values).and_then(|v| v.first().copied()).filter(|z| z.is_finite());
    let s = Spectrum1d {
        path: path.to_path_buf(),
        format: "SDSS spec".into(),
        wave_vac: wave,
        flux: flux.iter().map(|v| *v as f32).collect(),
        ivar: ivar.iter().map(|v| *v as f32).collect(),
        mask: mask.iter().map(|m| i32::from(*m != 0.0)).collect(),
        lsf_sigma,
        z,
    };
    check(s)
}

/// A table's columns by name: wavelength, flux, ivar or error, optional mask.
fn from_columns(path: &Path, format: String, names: &[String], columns: Vec<Option<Vec<f64>>>, medium: Medium) -> Result<Spectrum1d> {
    let problem = |message: String| DesiIoError::Spectrum1d { path: path.to_path_buf(), message };
    let find = |aliases: &[&str]| -> Option<(String, Vec<f64>)> {
        aliases.iter().find_map(|a| {
            let i = names.iter().position(|n| n.eq_ignore_ascii_case(a))?;
            Some((names[i].clone(), columns[i].clone()?))
        })
    };
    let listed = names.join(", ");
    let (_, wave) = find(&["wavelength", "wave", "lambda", "lam"])
        .ok_or_else(|| problem(format!("no numeric wavelength column (wavelength, wave, lambda or lam); columns: {listed}")))?;
    let (_, flux) = find(&["flux"]).ok_or_else(|| problem(format!("no numeric flux column; columns: {listed}")))?;
    let ivar = match (find(&["ivar"]), find(&["error", "err", "sigma", "noise"])) {
        (Some((_, ivar)), _) => ivar,
        (None, Some((_, err))) => err.iter().map(|e| if *e > 0.0 && e.is_finite() { 1.0 / (e * e) } else { 0.0 }).collect(),
        (None, None) => return Err(problem(format!("no ivar or error column (ivar, error, err, sigma, noise); columns: {listed}"))),
    };
    let mask = find(&["mask"]).map(|(_, m)| m).unwrap_or_else(|| vec![0.0; wave.len()]);
    let wave_vac = match medium {
        Medium::Vacuum => wave,
        Medium::Air => wave.iter().map(|w| air_to_vacuum(*w)).collect(),
    };
    check(Spectrum1d {
        path: path.to_path_buf(),
        format,
        wave_vac,
        flux: flux.iter().map(|v| *v as f32).collect(),
        ivar: ivar.iter().map(|v| *v as f32).collect(),
        mask: mask.iter().map(|m| i32::from(*m != 0.0)).collect(),
        lsf_sigma: None,
        z: None,
    })
}

/// Equal lengths, increasing finite wavelengths, at least one usable pixel; NaN flux or
/// ivar, and negative ivar, become ivar 0.
fn check(mut s: Spectrum1d) -> Result<Spectrum1d> {
    let n = s.wave_vac.len();
    if s.flux.len() != n || s.ivar.len() != n || s.mask.len() != n {
        let message = format!("{n} wavelengths but {} flux, {} ivar and {} mask values", s.flux.len(), s.ivar.len(), s.mask.len());
        return Err(s.problem(message));
    }
    if n < 2 {
        return Err(s.problem(format!("{n} pixel(s): a spectrum needs at least 2")));
    }
    if let Some(j) = (1..n).find(|&j| !(s.wave_vac[j] > s.wave_vac[j - 1]) || !s.wave_vac[j].is_finite()) {
        let message = format!("wavelengths must increase and be finite: pixel {j} has {} after {}", s.wave_vac[j], s.wave_vac[j - 1]);
        return Err(s.problem(message));
    }
    for j in 0..n {
        if !(s.ivar[j] > 0.0) || !s.ivar[j].is_finite() || !s.flux[j].is_finite() {
            s.ivar[j] = 0.0;
        }
    }
    if !(0..n).any(|j| s.ivar[j] > 0.0 && s.mask[j] == 0) {
        return Err(s.problem("no pixel has a finite flux, positive ivar and a clean mask".into()));
    }
    Ok(s)
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a ArrayRef> {
    let schema = batch.schema();
    let i = schema.fields().iter().position(|f| f.name().eq_ignore_ascii_case(name))?;
    Some(batch.column(i))
}

/// A numeric column as f64 — scalars over rows, or the single row of an array column.
fn column_values(col: &ArrayRef) -> Option<Vec<f64>> {
    let values = match col.data_type() {
        DataType::FixedSizeList(_, _) if col.len() == 1 => col.as_fixed_size_list().values().clone(),
        DataType::FixedSizeList(_, _) => return None,
        _ => col.clone(),
    };
    if !values.data_type().is_numeric() {
        return None;
    }
    let as_f64 = arrow_cast::cast(&values, &DataType::Float64).ok()?;
    let a = as_f64.as_primitive::<arrow_array::types::Float64Type>();
    Some((0..a.len()).map(|i| if a.is_null(i) { f64::NAN } else { a.value(i) }).collect())
}

/// A CSV table: a header line of names, then numbers; `#` lines are comments.
fn parse_csv(text: &str) -> std::result::Result<(Vec<String>, Vec<Option<Vec<f64>>>), String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let (_, header) = lines.next().ok_or("empty CSV file")?;
    let names: Vec<String> = header.split(',').map(|s| s.trim().trim_matches('"').to_string()).collect();
    let mut columns = vec![Vec::new(); names.len()];
    for (number, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != names.len() {
            return Err(format!("line {}: {} fields, the header has {}", number + 1, fields.len(), names.len()));
        }
        for (k, field) in fields.iter().enumerate() {
            let v = if field.eq_ignore_ascii_case("nan") || field.is_empty() {
                f64::NAN
            } else {
                field.parse::<f64>().map_err(|_| format!("line {}: {:?} in column {} is not a number", number + 1, field, names[k]))?
            };
            columns[k].push(v);
        }
    }
    Ok((names, columns.into_iter().map(Some).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_table_in_air_with_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        std::fs::write(&path, "# a test\nwave,flux,err\n5000,1.0,0.1\n5001,nan,0.1\n5002,1.2,0\n").unwrap();
        let e = read_spectrum_1d(&path, None).unwrap_err().to_string();
        assert!(e.contains("s.csv") && e.contains("--air or --vacuum"), "{e}");
        let s = read_spectrum_1d(&path, Some(Medium::Air)).unwrap();
        assert!((s.wave_vac[0] - air_to_vacuum(5000.0)).abs() < 1e-9 && s.wave_vac[0] > 5001.0);
        assert_eq!(s.ivar, vec![100.0, 0.0, 0.0], "NaN flux and zero error are unusable");
        let e = s.sigma_angstrom(None).unwrap_err().to_string();
        assert!(e.contains("--fwhm"), "{e}");
        let sigma = s.sigma_angstrom(Some(Lsf::ResolvingPower(2000.0))).unwrap();
        assert!((sigma[0] - s.wave_vac[0] / 2000.0 / FWHM_PER_SIGMA).abs() < 1e-12);
        std::fs::write(&path, "wave,flux,err\n5000,1.0,0.1\n4999,x,0.1\n").unwrap();
        let e = read_spectrum_1d(&path, Some(Medium::Vacuum)).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("\"x\""), "{e}");
        std::fs::write(&path, "wave,flux\n5000,1.0\n5001,1.0\n").unwrap();
        let e = read_spectrum_1d(&path, Some(Medium::Vacuum)).unwrap_err().to_string();
        assert!(e.contains("no ivar or error column"), "{e}");
        std::fs::write(&path, "wave,flux,ivar\n5000,1.0,1\n4999,1.0,1\n").unwrap();
        let e = read_spectrum_1d(&path, Some(Medium::Vacuum)).unwrap_err().to_string();
        assert!(e.contains("must increase"), "{e}");
    }
}
