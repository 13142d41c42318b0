//! `ssp` owns the stellar-population templates of desi-ard: the E-MILES library of
//! Vazdekis et al. (2016, MNRAS 463, 3409; "V16") — 150 SSPs, 25 ages 0.063–15.8 Gyr ×
//! 6 [M/H] −1.71…+0.22, unimodal IMF slope 1.30, BaSTI-free Padova00 isochrones,
//! air wavelengths 1680–50000 Å at 0.9 Å — and the spectral operations done on them.
//!
//! The MILES data carry a request to cite V16 but no open licence, so they are never
//! committed: [`build_from_miles`] converts the copy shipped in the `ppxf==8.2.6`
//! sdist on PyPI (`ppxf/miles_models/`) into the project's compact file once, at
//! set-up (`scripts/setup.sh`), and [`SspLibrary::load`] reads that file at run time.
//!
//! The project file (FITS) holds the optical range at native sampling (1680–11000 Å,
//! 0.9 Å, air), its line-spread function (FWHM per pixel), a binned near-infrared
//! extension to 50000 Å for WISE photometry, the grid of ages and metallicities, and
//! the surviving stellar mass (stars + remnants) per solar mass formed from the
//! Vazdekis mass table shipped beside the spectra.
//!
//! A second library, BC03 (Bruzual & Charlot 2003) as used by the MPA-JHU catalogue, is
//! converted into the same layout by [`bc03::build_from_bc03`]. The fits never use it: it
//! exists so the simulator can build galaxies from templates the fits do not share
//! (`desi-ard simulate --library bc03`).
#![deny(missing_docs)]

pub mod bc03;
pub mod mastar;
pub mod ops;
pub mod sfh;

use std::path::{Path, PathBuf};

use ard_fits::{FitsFile, Key};

/// Errors of the template layer.
#[derive(Debug, thiserror::Error)]
pub enum SspError {
    /// Reading or writing FITS failed.
    #[error(transparent)]
    Fits(#[from] ard_fits::FitsError),
    /// The project file is not where it was looked for.
    #[error("{} template file not found (looked in: {}). Run the set-up once: `scripts/setup.sh` ({}), or pass --templates{}", .library.name(), .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "), .library.source(), if *.library == Library::Emiles { " / set DESI_ARD_TEMPLATES" } else { "" })]
    NotFound {
        /// Which library.
        library: Library,
        /// Paths tried.
        searched: Vec<PathBuf>,
    },
    /// The MILES input folder is incomplete or unexpected.
    #[error("{path}: {message}")]
    Input {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file or folder could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SspError + '_ {
    move |source| SspError::Io { path: path.to_path_buf(), source }
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, SspError>;

/// Name of the project's template file.
pub const TEMPLATE_FILE: &str = "emiles-ssp-v1.fits";

/// The population libraries the project converts at set-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Library {
    /// E-MILES (Vazdekis et al. 2016): the fits' templates and the default mock.
    Emiles,
    /// BC03 (Bruzual & Charlot 2003, MNRAS 344, 1000) SSPs of the MPA-JHU catalogue,
    /// Chabrier (2003) IMF: only for the independent mock.
    Bc03,
    /// MaStar SSPs (Maraston et al. 2020, MNRAS 496, 2962), Salpeter IMF, per-pixel
    /// resolution: only for the independent mock.
    Mastar,
}

impl Library {
    /// Every library, in CLI order.
    pub const ALL: [Library; 3] = [Library::Emiles, Library::Bc03, Library::Mastar];
    /// Name in files, the truth table and the CLI (`emiles`, `bc03`, `mastar`).
    pub fn code(self) -> &'static str {
        match self {
            Library::Emiles => "emiles",
            Library::Bc03 => "bc03",
            Library::Mastar => "mastar",
        }
    }
    /// Human name.
    pub fn name(self) -> &'static str {
        match self {
            Library::Emiles => "E-MILES",
            Library::Bc03 => "BC03",
            Library::Mastar => "MaStar",
        }
    }
    /// File name of the converted library in the cache's `ssp/` folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Library::Emiles => TEMPLATE_FILE,
            Library::Bc03 => bc03::BC03_FILE,
            Library::Mastar => mastar::MASTAR_FILE,
        }
    }
    /// Where the set-up takes the library from.
    fn source(self) -> &'static str {
        match self {
            Library::Emiles => "it converts the E-MILES SSPs shipped in the ppxf==8.2.6 sdist from PyPI",
            Library::Bc03 => "it converts the BC03 SSPs shipped in the sdss-mangadap==4.5.0 wheel from PyPI",
            Library::Mastar => "it converts the MaStar SSPs shipped in the sdss-mangadap==4.5.0 wheel from PyPI",
        }
    }
    /// The IMF of the library, as written in the truth table.
    pub fn imf(self) -> &'static str {
        match self {
            Library::Emiles => "unimodal 1.30",
            Library::Bc03 => "Chabrier 2003",
            Library::Mastar => "Salpeter 1955",
        }
    }
}
/// Upper end of the native-resolution part, Å (air).
pub const OPTICAL_MAX: f64 = 11000.0;
/// Bin width of the near-infrared extension, Å.
pub const IR_BIN: f64 = 25.0;

/// A population library in memory (E-MILES unless [`SspLibrary::library`] says otherwise).
#[derive(Debug, Clone)]
pub struct SspLibrary {
    /// Which library this is.
    pub library: Library,
    /// Optical wavelengths, Å, **air**, uniform 0.9 Å.
    pub wave: Vec<f64>,
    /// Template FWHM at each optical pixel, Å.
    pub fwhm: Vec<f32>,
    /// SSP ages, Gyr (ascending).
    pub ages_gyr: Vec<f64>,
    /// SSP metallicities [M/H] (ascending).
    pub metals: Vec<f64>,
    /// Optical spectra, L☉/Å per M☉ formed, `[metal][age][pixel]`.
    pub flux: Vec<f32>,
    /// Stars + remnants per M☉ formed, `[metal][age]`.
    pub surviving_mass: Vec<f64>,
    /// Near-infrared bin centres, Å (air); empty when the library stops in the optical.
    pub wave_ir: Vec<f64>,
    /// Near-infrared spectra (bin means), `[metal][age][bin]`.
    pub flux_ir: Vec<f32>,
}

impl SspLibrary {
    /// Number of optical pixels.
    pub fn npix(&self) -> usize {
        self.wave.len()
    }
    /// Index into `[metal][age]` arrays.
    pub fn index(&self, metal: usize, age: usize) -> usize {
        metal * self.ages_gyr.len() + age
    }
    /// Optical spectrum of one SSP.
    pub fn spectrum(&self, metal: usize, age: usize) -> &[f32] {
        let n = self.npix();
        let k = self.index(metal, age);
        &self.flux[k * n..(k + 1) * n]
    }
    /// Near-infrared spectrum of one SSP.
    pub fn spectrum_ir(&self, metal: usize, age: usize) -> &[f32] {
        let n = self.wave_ir.len();
        let k = self.index(metal, age);
        &self.flux_ir[k * n..(k + 1) * n]
    }

    /// FWHM of the library's line-spread function at air wavelength `w`, Å
    /// (interpolated in the per-pixel table; the end values beyond it).
    pub fn fwhm_at(&self, w: f64) -> f64 {
        let k = self.wave.partition_point(|&x| x < w).clamp(1, self.wave.len() - 1);
        let t = ((w - self.wave[k - 1]) / (self.wave[k] - self.wave[k - 1])).clamp(0.0, 1.0);
        self.fwhm[k - 1] as f64 * (1.0 - t) + self.fwhm[k] as f64 * t
    }

    /// Where the E-MILES template file is looked for: `explicit`, then
    /// `$DESI_ARD_TEMPLATES`, then `$DESI_ARD_CACHE/ssp/`, then `~/.cache/desi-ard/ssp/`.
    pub fn candidate_paths(explicit: Option<&Path>) -> Vec<PathBuf> {
        Self::library_paths(Library::Emiles, explicit)
    }

    /// Where a library's file is looked for: `explicit`, then (E-MILES only)
    /// `$DESI_ARD_TEMPLATES`, then the cache's `ssp/` folder.
    pub fn library_paths(library: Library, explicit: Option<&Path>) -> Vec<PathBuf> {
        let mut v = Vec::new();
        if let Some(p) = explicit {
            v.push(p.to_path_buf());
        }
        if library == Library::Emiles {
            if let Some(p) = std::env::var_os("DESI_ARD_TEMPLATES") {
                v.push(PathBuf::from(p));
            }
        }
        v.push(default_cache_dir().join("ssp").join(library.file_name()));
        v
    }

    /// Finds and loads the E-MILES template file (see [`Self::candidate_paths`]).
    ///
    /// # Errors
    /// [`SspError::NotFound`] with the set-up instructions when no file exists.
    pub fn locate_and_load(explicit: Option<&Path>) -> Result<Self> {
        Self::locate_library(Library::Emiles, explicit)
    }

    /// Finds and loads a library's file (see [`Self::library_paths`]).
    ///
    /// # Errors
    /// [`SspError::NotFound`] with the set-up instructions when no file exists;
    /// [`SspError::Input`] when the file found holds another library.
    pub fn locate_library(library: Library, explicit: Option<&Path>) -> Result<Self> {
        let candidates = Self::library_paths(library, explicit);
        let Some(path) = candidates.iter().find(|p| p.is_file()) else {
            return Err(SspError::NotFound { library, searched: candidates });
        };
        let lib = Self::load(path)?;
        if lib.library != library {
            return Err(SspError::Input {
                path: path.clone(),
                message: format!("holds the {} library, not {}", lib.library.name(), library.name()),
            });
        }
        Ok(lib)
    }

    /// Loads the project's template file.
    pub fn load(path: &Path) -> Result<Self> {
        let mut f = FitsFile::open(path)?;
        let name = f.read_key_str("SSPLIB")?.unwrap_or_default();
        let library = Library::ALL.into_iter().find(|l| l.name() == name.trim()).ok_or_else(|| SspError::Input {
            path: path.into(),
            message: format!("SSPLIB = {name:?} is not a library this version reads; re-run scripts/setup.sh"),
        })?;
        let has_ir = f.has_hdu("WAVELENGTH_IR")?;
        let mut img = |name: &str| -> Result<Vec<f64>> {
            f.move_to(name)?;
            Ok(f.read_image::<f64>()?.0)
        };
        let wave = img("WAVELENGTH")?;
        let ages_gyr = img("AGES")?;
        let metals = img("METALS")?;
        let surviving_mass = img("MASS_SURVIVING")?;
        let wave_ir = if has_ir { img("WAVELENGTH_IR")? } else { Vec::new() };
        let mut imgf = |name: &str| -> Result<(Vec<f32>, Vec<usize>)> {
            f.move_to(name)?;
            Ok(f.read_image::<f32>()?)
        };
        let (fwhm, _) = imgf("FWHM")?;
        let (flux, shape) = imgf("FLUX")?;
        let (flux_ir, shape_ir) = if has_ir { imgf("FLUX_IR")? } else { (Vec::new(), vec![metals.len(), ages_gyr.len(), 0]) };
        let expect = [metals.len(), ages_gyr.len(), wave.len()];
        if shape != expect || shape_ir != [metals.len(), ages_gyr.len(), wave_ir.len()] || fwhm.len() != wave.len() {
            return Err(SspError::Input {
                path: path.into(),
                message: format!("inconsistent template file: FLUX {shape:?}, expected {expect:?}; re-run scripts/setup.sh"),
            });
        }
        Ok(SspLibrary { library, wave, fwhm, ages_gyr, metals, flux, surviving_mass, wave_ir, flux_ir })
    }

    /// Writes the project's template file (the near-infrared extension only when the
    /// library has one).
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("fits.tmp");
        let mut f = FitsFile::create(&tmp)?;
        let (citation, source, isochrones, mass) = match self.library {
            Library::Emiles => {
                ("Vazdekis et al. 2016, MNRAS 463, 3409", "ppxf==8.2.6 sdist, ppxf/miles_models", "Padova00, baseFe", "Vazdekis mass table")
            }
            Library::Bc03 => (
                "Bruzual & Charlot 2003, MNRAS 344, 1000",
                "sdss-mangadap==4.5.0 wheel, bc03_mpajhu",
                "Padova 1994 (BC03)",
                "desi-ard ssp::bc03 (Chabrier IMF, remnants)",
            ),
            Library::Mastar => (
                "Maraston et al. 2020, MNRAS 496, 2962",
                "sdss-mangadap==4.5.0 wheel, mastar_ssp_v1.0",
                "Maraston 2005 population synthesis (MaStar SSPs)",
                "desi-ard ssp::mastar (Salpeter IMF, remnants; L/M scaled on BC03)",
            ),
        };
        f.write_primary(&[
            Key::str("SSPLIB", self.library.name(), citation),
            Key::str("SOURCE", source, "converted by desi-ard setup-templates"),
            Key::str("IMF", self.library.imf(), ""),
            Key::str("ISOCHRON", isochrones, ""),
            Key::str("MASSTAB", mass, "source of MASS_SURVIVING"),
            Key::bool("AIRWAVE", true, "wavelengths are in air"),
            Key::str("BUNIT", "Lsun/Angstrom/Msun", "per solar mass formed"),
        ])?;
        let (nm, na) = (self.metals.len(), self.ages_gyr.len());
        f.write_image("WAVELENGTH", &[self.wave.len()], &self.wave, &[Key::str("BUNIT", "Angstrom", "air")])?;
        f.write_image("FWHM", &[self.fwhm.len()], &self.fwhm, &[Key::str("BUNIT", "Angstrom", "template line-spread FWHM")])?;
        f.write_image("FLUX", &[nm, na, self.wave.len()], &self.flux, &[])?;
        if !self.wave_ir.is_empty() {
            f.write_image("WAVELENGTH_IR", &[self.wave_ir.len()], &self.wave_ir, &[Key::str("BUNIT", "Angstrom", "air, bin centres")])?;
            f.write_image("FLUX_IR", &[nm, na, self.wave_ir.len()], &self.flux_ir, &[])?;
        }
        f.write_image("AGES", &[na], &self.ages_gyr, &[Key::str("BUNIT", "Gyr", "")])?;
        f.write_image("METALS", &[nm], &self.metals, &[Key::str("BUNIT", "dex", "[M/H]")])?;
        f.write_image(
            "MASS_SURVIVING",
            &[nm, na],
            &self.surviving_mass,
            &[Key::str("BUNIT", "Msun/Msun", "stars+remnants per mass formed")],
        )?;
        f.close()?;
        std::fs::rename(&tmp, path).map_err(io_error(path))
    }
}

/// The user's desi-ard cache folder (see [`ard_core::cache_dir`]).
pub use ard_core::cache_dir as default_cache_dir;

/// E-MILES line-spread FWHM (Å) at air wavelength `w`: 3.0 Å below 3540.5 Å (the NGSL
/// part), 2.51 Å (MILES) to 8950 Å, σ = 60 km/s beyond (V16 §2, Table 1).
pub fn emiles_fwhm(w: f64) -> f64 {
    if w < 3540.5 {
        3.0
    } else if w <= 8950.0 {
        2.51
    } else {
        ard_core::constants::FWHM_PER_SIGMA * 60.0 / ard_core::cosmology::C_KM_S * w
    }
}

/// Parses a MILES file name `Eun1.30Zm0.40T00.0631_iPp0.00_baseFe_linear_FWHM_variable.fits`
/// into ([M/H], age in Gyr).
fn parse_miles_name(name: &str) -> Option<(f64, f64)> {
    let rest = name.strip_prefix("Eun1.30Z")?;
    let (z, rest) = rest.split_at(5);
    let sign = match &z[..1] {
        "m" => -1.0,
        "p" => 1.0,
        _ => return None,
    };
    let metal = sign * z[1..].parse::<f64>().ok()?;
    let rest = rest.strip_prefix('T')?;
    let age = rest.split('_').next()?.parse::<f64>().ok()?;
    Some((metal, age))
}

/// What [`build_from_miles`] found and wrote.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// Number of SSPs.
    pub n_ssp: usize,
    /// Ages, Gyr.
    pub ages: Vec<f64>,
    /// Metallicities.
    pub metals: Vec<f64>,
}

/// Converts `ppxf/miles_models/` of the ppxf 8.2.6 sdist into the project file.
///
/// # Errors
/// [`SspError::Input`] when files are missing, the grid is incomplete, or a mass-table
/// row is absent for an SSP.
pub fn build_from_miles(miles_dir: &Path, out: &Path) -> Result<BuildReport> {
    let input = |m: String| SspError::Input { path: miles_dir.into(), message: m };
    let (files, metals, ages) = scan_grid(miles_dir, "E-MILES SSP", parse_miles_name)?;
    let masses = read_mass_table(miles_dir)?;
    let (nm, na) = (metals.len(), ages.len());
    let mut wave = Vec::new();
    let mut flux = Vec::new();
    let mut wave_ir = Vec::new();
    let mut flux_ir = Vec::new();
    let mut surviving = vec![0.0; nm * na];
    let mut grid: Vec<Option<PathBuf>> = vec![None; nm * na];
    for (m, a, p) in files {
        let im = metals.iter().position(|&x| (x - m).abs() < 1e-6).unwrap_or(0);
        let ia = ages.iter().position(|&x| (x - a).abs() < 1e-6).unwrap_or(0);
        grid[im * na + ia] = Some(p);
    }
    for im in 0..nm {
        for ia in 0..na {
            let p = grid[im * na + ia].clone().ok_or_else(|| input(format!("missing SSP [M/H]={} age={}", metals[im], ages[ia])))?;
            let mut f = FitsFile::open(&p)?;
            let crval = f.read_key_f64("CRVAL1")?.ok_or_else(|| input(format!("{}: no CRVAL1", p.display())))?;
            let cdelt = f.read_key_f64("CDELT1")?.ok_or_else(|| input(format!("{}: no CDELT1", p.display())))?;
            let crpix = f.read_key_f64("CRPIX1")?.unwrap_or(1.0);
            let (data, _) = f.read_image::<f32>()?;
            let w: Vec<f64> = (0..data.len()).map(|i| crval + (i as f64 + 1.0 - crpix) * cdelt).collect();
            let nopt = w.iter().take_while(|&&x| x <= OPTICAL_MAX).count();
            if wave.is_empty() {
                wave = w[..nopt].to_vec();
                let mut lo = OPTICAL_MAX;
                while lo + IR_BIN <= w[w.len() - 1] {
                    wave_ir.push(lo + 0.5 * IR_BIN);
                    lo += IR_BIN;
                }
            } else if nopt != wave.len() || (w[0] - wave[0]).abs() > 1e-6 {
                return Err(input(format!("{}: wavelength grid differs from the other SSPs", p.display())));
            }
            flux.extend_from_slice(&data[..nopt]);
            flux_ir.extend(ops::bin_means(&w, &data, &wave_ir, IR_BIN).into_iter().map(|x| x as f32));
            surviving[im * na + ia] = masses
                .iter()
                .find(|r| (r.0 - metals[im]).abs() < 0.02 && (r.1 - ages[ia]).abs() < 1e-3)
                .map(|r| r.2)
                .ok_or_else(|| input(format!("no mass-table row for [M/H]={} age={}", metals[im], ages[ia])))?;
        }
    }
    let fwhm = wave.iter().map(|&w| emiles_fwhm(w) as f32).collect();
    save_converted(
        SspLibrary { library: Library::Emiles, wave, fwhm, ages_gyr: ages, metals, flux, surviving_mass: surviving, wave_ir, flux_ir },
        out,
    )
}

/// The input grid of a converter: every file of `dir` whose name `parse` reads as
/// ([M/H], age in Gyr), sorted by [M/H] then age, with the distinct metallicities and ages
/// (ascending). `what` names the files in the error when they do not make a full grid.
pub(crate) fn scan_grid(
    dir: &Path,
    what: &str,
    parse: fn(&str) -> Option<(f64, f64)>,
) -> Result<(Vec<(f64, f64, PathBuf)>, Vec<f64>, Vec<f64>)> {
    let mut files: Vec<(f64, f64, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let p = e.map_err(io_error(dir))?.path();
        if let Some((m, a)) = p.file_name().and_then(|n| n.to_str()).and_then(parse) {
            files.push((m, a, p));
        }
    }
    let mut metals: Vec<f64> = files.iter().map(|f| f.0).collect();
    let mut ages: Vec<f64> = files.iter().map(|f| f.1).collect();
    for v in [&mut metals, &mut ages] {
        v.sort_by(f64::total_cmp);
        v.dedup_by(|a, b| (*a - *b).abs() < 1e-6);
    }
    if files.is_empty() || files.len() != metals.len() * ages.len() {
        return Err(SspError::Input {
            path: dir.into(),
            message: format!(
                "expected a full grid of {what} files, found {} for {} ages × {} metallicities",
                files.len(),
                ages.len(),
                metals.len()
            ),
        });
    }
    files.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    Ok((files, metals, ages))
}

/// Writes a converted library to `out` (making its folder) and reports what it holds.
pub(crate) fn save_converted(lib: SspLibrary, out: &Path) -> Result<BuildReport> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    lib.save(out)?;
    Ok(BuildReport { n_ssp: lib.metals.len() * lib.ages_gyr.len(), ages: lib.ages_gyr, metals: lib.metals })
}

/// Rows (metal, age, M(*+remn)) of `Vazdekis2012_ssp_mass_Padova00_UN_baseFe_v10.0.txt`
/// for IMF slope 1.30.
fn read_mass_table(dir: &Path) -> Result<Vec<(f64, f64, f64)>> {
    let path = dir.join("Vazdekis2012_ssp_mass_Padova00_UN_baseFe_v10.0.txt");
    let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 6 || t[0] != "UN" {
            continue;
        }
        let nums: Vec<f64> = t[1..6].iter().filter_map(|s| s.parse().ok()).collect();
        if nums.len() == 5 && (nums[0] - 1.30).abs() < 1e-6 {
            rows.push((nums[1], nums[2], nums[4]));
        }
    }
    if rows.is_empty() {
        return Err(SspError::Input { path, message: "no rows for IMF slope 1.30".into() });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_miles_names() {
        assert_eq!(parse_miles_name("Eun1.30Zm0.40T00.0631_iPp0.00_baseFe_linear_FWHM_variable.fits"), Some((-0.40, 0.0631)));
        assert_eq!(parse_miles_name("Eun1.30Zp0.22T15.8489_iPp0.00_baseFe_linear_FWHM_variable.fits"), Some((0.22, 15.8489)));
        assert_eq!(parse_miles_name("Vazdekis2012_ssp_mass.txt"), None);
    }

    #[test]
    fn lsf_follows_v16() {
        assert_eq!(emiles_fwhm(3000.0), 3.0);
        assert_eq!(emiles_fwhm(5000.0), 2.51);
        assert!((emiles_fwhm(10000.0) - 4.71).abs() < 0.01);
    }
}
