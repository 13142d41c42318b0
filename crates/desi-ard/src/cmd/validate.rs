//! `desi-ard validate`: a layer against the simulator's truth, as the tables of VALIDATION.md.

use std::path::{Path, PathBuf};

use anyhow::Result;

/// `validate sed --metallicity-prior`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum MetallicityPriorArg {
    /// Gallazzi et al. (2005) mass–metallicity relation (Leja et al. 2019).
    Gallazzi05,
    /// Uniform over the template range.
    Uniform,
}

/// `--library`: which population library the validation sample is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LibraryArg {
    /// E-MILES, the fits' own templates (same-library validation).
    Emiles,
    /// BC03 with the independent mock's histories, dust, lines and instrument.
    Bc03,
    /// MaStar (Salpeter IMF, per-pixel resolution) with the same independent mock.
    Mastar,
}

impl From<LibraryArg> for ssp::Library {
    fn from(l: LibraryArg) -> Self {
        match l {
            LibraryArg::Emiles => ssp::Library::Emiles,
            LibraryArg::Bc03 => ssp::Library::Bc03,
            LibraryArg::Mastar => ssp::Library::Mastar,
        }
    }
}

/// The layer to validate.
#[derive(Debug, clap::Subcommand)]
pub enum Layer {
    /// SED layer (issue 5): in-fibre log M and log SFR against the truth — bias, scatter
    /// and credible-interval coverage by S/N and class.
    Sed {
        /// Galaxies to simulate.
        #[arg(long, default_value_t = 300)]
        objects: usize,
        /// Random seed of the simulated sample.
        #[arg(long, default_value_t = 11)]
        seed: u64,
        /// Effective exposure time of dark coadds, s.
        #[arg(long, default_value_t = 4000.0)]
        exptime_dark: f64,
        /// Effective exposure time of bright coadds, s.
        #[arg(long, default_value_t = 2400.0)]
        exptime_bright: f64,
        /// Working folder (default: a temporary one).
        #[arg(long)]
        work: Option<PathBuf>,
        /// The E-MILES template file.
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Prior of [M/H]: the Gallazzi et al. (2005) mass–metallicity relation (the
        /// ingest default) or uniform over the templates.
        #[arg(long, value_enum, default_value_t = MetallicityPriorArg::Gallazzi05)]
        metallicity_prior: MetallicityPriorArg,
        /// Width of the mass–metallicity prior in units of the relation's scatter.
        #[arg(long, default_value_t = 2.0)]
        metallicity_width: f64,
        /// Population library of the simulated sample.
        #[arg(long, value_enum, default_value_t = LibraryArg::Emiles)]
        library: LibraryArg,
        /// Without the independent mock's instrument systematics (calibration tilt, ivar
        /// scale, sky residuals, colour gradient).
        #[arg(long)]
        no_systematics: bool,
    },
    /// An embedding column of a simulated sample's ARD: how often an object's nearest
    /// neighbours share its simulated class (Green Peas: worst case and precision@20).
    Embedding {
        /// The ARD (ingested from a `desi-ard simulate` tree).
        ard: PathBuf,
        /// The simulator's truth table (RAW/truth/truth.parquet).
        #[arg(long)]
        truth: PathBuf,
        /// Embedding column.
        #[arg(long, default_value = "emb_pca")]
        embedding: String,
        /// Neighbours per object.
        #[arg(long, default_value_t = 10)]
        k: usize,
    },
    /// Physics (issue 4): line-flux pulls, σ*, Dn4000 and HδA against the truth, by S/N.
    Physics {
        /// Galaxies to simulate (each observed once or twice).
        #[arg(long, default_value_t = 300)]
        objects: usize,
        /// Random seed of the simulated sample.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Effective exposure time of dark coadds, s (longer spans higher S/N).
        #[arg(long, default_value_t = 4000.0)]
        exptime_dark: f64,
        /// Effective exposure time of bright coadds, s.
        #[arg(long, default_value_t = 2400.0)]
        exptime_bright: f64,
        /// Working folder for the simulated files (default: a temporary one).
        #[arg(long)]
        work: Option<PathBuf>,
        /// The E-MILES template file.
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Population library of the simulated sample.
        #[arg(long, value_enum, default_value_t = LibraryArg::Emiles)]
        library: LibraryArg,
        /// Without the independent mock's instrument systematics (calibration tilt, ivar
        /// scale, sky residuals, colour gradient).
        #[arg(long)]
        no_systematics: bool,
    },
}

/// Runs `desi-ard validate ...`.
pub fn run(layer: Layer) -> Result<()> {
    match layer {
        Layer::Sed {
            objects,
            seed,
            exptime_dark,
            exptime_bright,
            work,
            templates,
            metallicity_prior,
            metallicity_width,
            library,
            no_systematics,
        } => {
            let prior = match metallicity_prior {
                MetallicityPriorArg::Gallazzi05 => ard_sed::MetallicityPrior::MassMetallicity { width_factor: metallicity_width },
                MetallicityPriorArg::Uniform => ard_sed::MetallicityPrior::TemplateRange,
            };
            let v = ValidationRun { objects, seed, exptime_dark, exptime_bright, library: library.into(), systematics: !no_systematics };
            validate_sed(&v, prior, work.as_deref(), templates.as_deref())
        }
        Layer::Embedding { ard, truth, embedding, k } => {
            let rows = ard_validate::embedding::run(&ard, &truth, &embedding, k)?;
            println!("desi-ard validate embedding {} --truth {} --embedding {embedding} --k {k}\n", ard.display(), truth.display());
            print!("{}", ard_validate::embedding::markdown(&rows, &embedding, k));
            Ok(())
        }
        Layer::Physics { objects, seed, exptime_dark, exptime_bright, work, templates, library, no_systematics } => {
            let v = ValidationRun { objects, seed, exptime_dark, exptime_bright, library: library.into(), systematics: !no_systematics };
            validate_physics(&v, work.as_deref(), templates.as_deref())
        }
    }
}

/// A simulated validation sample: simulates it (into `work` or a temporary folder), runs
/// one layer over it with a progress bar, and prints the command line with its time.
pub struct ValidationRun {
    /// Galaxies to simulate.
    pub objects: usize,
    /// Simulation seed.
    pub seed: u64,
    /// Dark-time effective exposure, s.
    pub exptime_dark: f64,
    /// Bright-time effective exposure, s.
    pub exptime_bright: f64,
    /// Population library of the sample (the fits always use E-MILES).
    pub library: ssp::Library,
    /// Whether the independent mock adds its instrument systematics.
    pub systematics: bool,
}

/// The fits' E-MILES templates and the sample's library (E-MILES again, or the mock's).
pub struct Libraries {
    /// The fits' templates.
    pub fit: ssp::SspLibrary,
    /// The simulated sample's library, when not E-MILES.
    mock: Option<ssp::SspLibrary>,
}

impl Libraries {
    /// Loads the fits' templates (`templates` or the set-up cache) and, for a library other
    /// than E-MILES, that library from the set-up cache.
    pub fn load(library: ssp::Library, templates: Option<&Path>) -> Result<Self> {
        let fit = ssp::SspLibrary::locate_and_load(templates)?;
        let mock = if library == ssp::Library::Emiles { None } else { Some(ssp::SspLibrary::locate_library(library, None)?) };
        Ok(Libraries { fit, mock })
    }
    /// The library the sample is simulated from.
    pub fn mock(&self) -> &ssp::SspLibrary {
        self.mock.as_ref().unwrap_or(&self.fit)
    }
}

impl ValidationRun {
    fn run<T>(
        &self,
        layer: &str,
        work: Option<&Path>,
        templates: Option<&Path>,
        f: impl FnOnce(&Libraries, &desi_sim::SimConfig, &Path, &(dyn Fn(usize, usize) + Sync)) -> Result<T>,
    ) -> Result<T> {
        let libs = Libraries::load(self.library, templates)?;
        let tmp;
        let dir = match work {
            Some(w) => w.to_path_buf(),
            None => {
                tmp = tempfile::tempdir()?;
                tmp.path().to_path_buf()
            }
        };
        let (objects, seed, exptime_dark, exptime_bright) = (self.objects, self.seed, self.exptime_dark, self.exptime_bright);
        let sim = desi_sim::SimConfig {
            seed,
            n_objects: objects,
            exptime_dark,
            exptime_bright,
            library: self.library,
            instrument_systematics: self.systematics,
            ..Default::default()
        };
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} spectra, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("{layer} fits"));
        let t0 = std::time::Instant::now();
        let rows = f(&libs, &sim, &dir, &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;
        bar.finish_and_clear();
        println!(
            "desi-ard validate {layer} --library {}{} --objects {objects} --seed {seed} --exptime-dark {exptime_dark} --exptime-bright {exptime_bright}  ({:.0} s)\n",
            self.library.code(),
            if self.systematics { "" } else { " --no-systematics" },
            t0.elapsed().as_secs_f64()
        );
        Ok(rows)
    }
}

/// `desi-ard validate sed`.
fn validate_sed(
    v: &ValidationRun,
    metallicity_prior: ard_sed::MetallicityPrior,
    work: Option<&Path>,
    templates: Option<&Path>,
) -> Result<()> {
    let cfg = ard_sed::SedConfig { metallicity_prior, ..Default::default() };
    println!("metallicity prior: {metallicity_prior:?}");
    if v.library != ssp::Library::Emiles {
        println!(
            "truth put on the fits' IMF: log M {:+.3}, log SFR {:+.3} dex (Chabrier → Salpeter slope, Madau & Dickinson 2014)",
            ard_core::constants::LOG_MASS_CHABRIER_TO_SALPETER,
            ard_core::constants::LOG_SFR_CHABRIER_TO_SALPETER
        );
    }
    let rows = v.run("sed", work, templates, |libs, sim, dir, progress| {
        Ok(ard_validate::sed::run(&libs.fit, libs.mock(), sim, &cfg, dir, progress)?)
    })?;
    print!("{}", ard_validate::sed::markdown(&rows));
    Ok(())
}

/// `desi-ard validate physics`.
fn validate_physics(v: &ValidationRun, work: Option<&Path>, templates: Option<&Path>) -> Result<()> {
    let rows = v.run("physics", work, templates, |libs, sim, dir, progress| {
        Ok(ard_validate::physics::run(
            &libs.fit,
            libs.mock(),
            ard_validate::physics::MilkyWayInput::Corrected,
            sim,
            &ard_physics::FitConfig::default(),
            dir,
            progress,
        )?)
    })?;
    print!("{}", ard_validate::physics::summarise(&rows).markdown());
    Ok(())
}
