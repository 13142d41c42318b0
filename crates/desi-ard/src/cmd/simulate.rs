//! `desi-ard simulate`: a DESI-format healpix tree with truth, from the simulator.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};

/// Arguments of `desi-ard simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder (created).
    pub out: PathBuf,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of galaxies.
    #[arg(long, default_value_t = 2400)]
    pub objects: usize,
    /// nside-64 NESTED pixels of the footprint, comma-separated (default: the 16
    /// pixels of the COSMOS field's order-4 pixel).
    #[arg(long, value_delimiter = ',')]
    pub pixels: Option<Vec<u64>>,
    /// Total exposure time of dark-program coadds, s (sets the depth).
    #[arg(long, default_value_t = 1000.0)]
    pub exptime_dark: f64,
    /// Total exposure time of bright-program coadds, s.
    #[arg(long, default_value_t = 300.0)]
    pub exptime_bright: f64,
    /// Population library the galaxies are built from: `emiles` (the default mock, the
    /// fits' own templates), `bc03` or `mastar` (the independent mock: BC03 or MaStar
    /// SSPs, non-parametric histories, Charlot & Fall dust, BPT-sequence lines, DESI's
    /// measured LSF, instrument systematics, stars, QSOs, survey redshifts).
    #[arg(long, value_enum, default_value_t = crate::cmd::validate::LibraryArg::Emiles)]
    pub library: crate::cmd::validate::LibraryArg,
    /// The library file (default: the set-up cache; see scripts/setup.sh).
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `desi-ard simulate`.
pub fn run(args: Args) -> Result<()> {
    let Args { out, seed, objects, pixels, exptime_dark, exptime_bright, library, templates, quiet } = args;
    if objects == 0 {
        bail!("--objects must be at least 1");
    }
    let library = ssp::Library::from(library);
    let lib = ssp::SspLibrary::locate_library(library, templates.as_deref())?;
    let mut cfg = desi_sim::SimConfig { seed, n_objects: objects, exptime_dark, exptime_bright, library, ..Default::default() };
    if let Some(p) = pixels {
        if p.iter().any(|&x| x >= 12 * 64 * 64) {
            bail!("--pixels: nside-64 pixels run from 0 to 49151");
        }
        cfg.pixels = p;
    }
    let t0 = Instant::now();
    let summary = simulate_with_progress(&lib, &cfg, &out, quiet)?;
    let others = if summary.n_stars + summary.n_qsos > 0 {
        format!(", {} stars and {} QSOs", summary.n_stars, summary.n_qsos)
    } else {
        String::new()
    };
    println!(
        "simulated {} {} galaxies ({} Green-Pea-like){others} as {} spectra in {} coadd files under {} in {:.1} s",
        summary.n_targets - summary.n_stars - summary.n_qsos,
        library.name(),
        summary.n_green_peas,
        summary.n_spectra,
        summary.coadds.len(),
        out.display(),
        t0.elapsed().as_secs_f64()
    );
    println!("truth: {}\nweb:   {}", summary.truth.display(), summary.web.display());
    Ok(())
}

/// Runs the simulator with a progress bar over the pixel files (hidden when `quiet`).
pub fn simulate_with_progress(lib: &ssp::SspLibrary, cfg: &desi_sim::SimConfig, out: &Path, quiet: bool) -> Result<desi_sim::SimSummary> {
    let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} simulating [{bar:30}] {pos}/{len} pixel files  {elapsed} (ETA {eta})")?
            .progress_chars("=> "),
    );
    let summary = desi_sim::simulate(lib, cfg, out, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    Ok(summary)
}
