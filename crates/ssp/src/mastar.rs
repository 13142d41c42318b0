//! The MaStar library of the independent mock: the SSPs of Maraston et al. (2020, MNRAS
//! 496, 2962) built on MaStar, the SDSS-IV library of ~9000 empirical stellar spectra
//! (Yan et al. 2019) — 9 ages 3 Myr–14 Gyr × [Z/H] = −1.35 … +0.35, Salpeter IMF (slope
//! 2.35: the same high-mass slope as E-MILES' unimodal 1.3), vacuum wavelengths 3622–10351 Å
//! on a log grid, with the spectral resolution R(λ) of every pixel (the `SRES` HDU) — as
//! shipped in the `sdss-mangadap==4.5.0` wheel on PyPI
//! (`mangadap/data/spectral_templates/mastar_ssp_v1.0/`). Neither its stars nor its
//! isochrones are E-MILES', and its line-spread function is measured per pixel, so it is
//! the mock library on which a velocity dispersion can be checked without guessing the
//! library's own width (BC03's is known only to ±0.4 Å).
//!
//! The wheel's spectra are normalised to a median of one, with no mass table. To give
//! them luminosities per solar mass formed, each is scaled so that its mean over
//! 5200–5800 Å (air) equals that of the BC03 SSP of the same age and [M/H] (interpolated
//! in log age and [M/H] on the BC03 grid, clamped at its edges), converted from BC03's
//! Chabrier IMF to Salpeter per mass formed (−0.201 dex, Madau & Dickinson 2014, ARA&A 52,
//! 415, §5.1). The spectral shapes are MaStar's; only the overall light-to-mass scale is
//! borrowed from BC03 (never from E-MILES, which the fits use). Surviving masses come
//! from [`crate::bc03::surviving_mass`] with the Salpeter IMF.

use std::path::Path;

use ard_core::wavelength::vacuum_to_air;
use ard_fits::FitsFile;

use crate::bc03::surviving_mass;
use crate::{save_converted, scan_grid, BuildReport, Library, Result, SspError, SspLibrary};

/// Name of the converted MaStar file in the cache's `ssp/` folder.
pub const MASTAR_FILE: &str = "mastar-ssp-v1.fits";

/// Chabrier → Salpeter per mass formed, dex (Madau & Dickinson 2014, §5.1: SFRs × 1/0.63).
pub const LOG_FORMED_MASS_CHABRIER_TO_SALPETER: f64 = 0.201;

/// Salpeter (1955): dN/dlog m ∝ m^−1.35 (dN/dm ∝ m^−2.35), 0.1–100 M☉.
fn salpeter_per_log_m(m: f64) -> f64 {
    m.powf(-1.35)
}

/// Stars + remnants per M☉ formed of a Salpeter-IMF SSP at age `t` Gyr (see
/// [`surviving_mass`]).
pub fn salpeter_surviving_mass(t: f64) -> f64 {
    surviving_mass(salpeter_per_log_m, t)
}

/// Parses `MaStar-SSP-A09.000-Z+0.00.fits.gz` into (age Gyr, [Z/H]).
fn parse_mastar_name(name: &str) -> Option<(f64, f64)> {
    let rest = name.strip_prefix("MaStar-SSP-A")?;
    let rest = rest.strip_suffix(".fits.gz").or_else(|| rest.strip_suffix(".fits"))?;
    let (age, z) = rest.split_once("-Z")?;
    Some((age.parse().ok()?, z.parse().ok()?))
}

/// Mean of `flux` over air wavelengths 5200–5800 Å.
fn mean_5500(wave: &[f64], flux: &[f64]) -> f64 {
    let v: Vec<f64> = wave.iter().zip(flux).filter(|(w, _)| (5200.0..=5800.0).contains(*w)).map(|(_, f)| *f).collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// BC03's mean 5200–5800 Å luminosity (L☉/Å per M☉ formed) at `age` Gyr and [M/H] `z`:
/// bilinear in (log age, [M/H]) on its grid, clamped at the edges.
fn bc03_mean_5500(bc03: &SspLibrary, age: f64, z: f64) -> f64 {
    let bracket = |grid: &[f64], x: f64| -> (usize, usize, f64) {
        if x <= grid[0] {
            return (0, 0, 0.0);
        }
        if x >= grid[grid.len() - 1] {
            return (grid.len() - 1, grid.len() - 1, 0.0);
        }
        let k = grid.partition_point(|&g| g < x).clamp(1, grid.len() - 1);
        (k - 1, k, (x - grid[k - 1]) / (grid[k] - grid[k - 1]))
    };
    let log_ages: Vec<f64> = bc03.ages_gyr.iter().map(|a| a.log10()).collect();
    let (a0, a1, ta) = bracket(&log_ages, age.log10());
    let (m0, m1, tm) = bracket(&bc03.metals, z);
    let at = |m: usize, a: usize| {
        let f: Vec<f64> = bc03.spectrum(m, a).iter().map(|&x| x as f64).collect();
        mean_5500(&bc03.wave, &f)
    };
    (1.0 - tm) * ((1.0 - ta) * at(m0, a0) + ta * at(m0, a1)) + tm * ((1.0 - ta) * at(m1, a0) + ta * at(m1, a1))
}

/// Converts the wheel's `mastar_ssp_v1.0/` folder into the project's library file, with
/// luminosities scaled on the converted BC03 library `bc03` (see the module docs).
///
/// # Errors
/// [`SspError::Input`] when files are missing, the grid is incomplete, the files'
/// wavelength grids differ, or a spectrum or resolution is not finite and positive.
pub fn build_from_mastar(dir: &Path, bc03: &SspLibrary, out: &Path) -> Result<BuildReport> {
    let input = |path: &Path, m: String| SspError::Input { path: path.into(), message: m };
    if bc03.library != Library::Bc03 {
        return Err(input(out, format!("MaStar's luminosities are scaled on BC03, but the library given is {}", bc03.library.name())));
    }
    let (files, metals, ages) = scan_grid(dir, "MaStar-SSP-A*-Z*.fits.gz", |n| parse_mastar_name(n).map(|(a, z)| (z, a)))?;
    let (mut wave, mut fwhm): (Vec<f64>, Vec<f32>) = (Vec::new(), Vec::new());
    let mut flux = Vec::with_capacity(files.len() * 4600);
    for (z, age, p) in &files {
        let mut f = FitsFile::open(p)?;
        let key = |f: &mut FitsFile, k: &str| -> Result<f64> { f.read_key_f64(k)?.ok_or_else(|| input(p, format!("no {k} keyword"))) };
        let (crval, cdelt) = (key(&mut f, "CRVAL1")?, key(&mut f, "CDELT1")?);
        let crpix = f.read_key_f64("CRPIX1")?.unwrap_or(1.0);
        let (data, _) = f.read_image::<f64>()?;
        f.move_to("SRES")?;
        let (sres, _) = f.read_image::<f64>()?;
        if sres.len() != data.len() {
            return Err(input(p, format!("{} flux pixels but {} SRES values", data.len(), sres.len())));
        }
        // log10 λ (vacuum) grid → air, the project's convention for libraries.
        let w: Vec<f64> = (0..data.len()).map(|i| vacuum_to_air(10f64.powf(crval + (i as f64 + 1.0 - crpix) * cdelt))).collect();
        if let Some(bad) = data.iter().zip(&sres).position(|(v, r)| !(v.is_finite() && r.is_finite() && *r > 0.0)) {
            return Err(input(p, format!("non-finite flux or non-positive resolution at pixel {bad}")));
        }
        if wave.is_empty() {
            fwhm = w.iter().zip(&sres).map(|(w, r)| (w / r) as f32).collect();
            wave = w;
        } else if w.len() != wave.len() || (w[0] - wave[0]).abs() > 1e-6 {
            return Err(input(p, "wavelength grid differs from the other MaStar files".into()));
        }
        let scale = bc03_mean_5500(bc03, *age, *z) * 10f64.powf(-LOG_FORMED_MASS_CHABRIER_TO_SALPETER) / mean_5500(&wave, &data);
        if !(scale.is_finite() && scale > 0.0) {
            return Err(input(p, format!("cannot scale its 5200–5800 Å flux on BC03 (scale {scale})")));
        }
        flux.extend(data.iter().map(|&v| (v * scale) as f32));
    }
    let surviving = (0..metals.len()).flat_map(|_| ages.iter().map(|&a| salpeter_surviving_mass(a))).collect();
    save_converted(
        SspLibrary {
            library: Library::Mastar,
            wave,
            fwhm,
            ages_gyr: ages,
            metals,
            flux,
            surviving_mass: surviving,
            wave_ir: Vec::new(),
            flux_ir: Vec::new(),
        },
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mastar_names() {
        assert_eq!(parse_mastar_name("MaStar-SSP-A09.000-Z+0.00.fits.gz"), Some((9.0, 0.0)));
        assert_eq!(parse_mastar_name("MaStar-SSP-A00.003-Z-1.35.fits.gz"), Some((0.003, -1.35)));
        assert_eq!(parse_mastar_name("README"), None);
    }

    #[test]
    fn salpeter_keeps_more_of_its_mass_than_chabrier() {
        // Madau & Dickinson (2014) §5.1: R = 0.27 for Salpeter (0.1–100 M☉) → 0.73 left at
        // late times; stars alive at 10 Gyr keep it a little below. ±0.04.
        let m10 = salpeter_surviving_mass(10.0);
        assert!((m10 - 0.72).abs() < 0.04, "{m10}");
        assert!(m10 > crate::bc03::chabrier_surviving_mass(10.0));
    }
}
