//! `desi-ard`: the command-line front of the DESI Analysis Ready Dataset.
//!
//! `main` only parses the arguments and dispatches to the command's module in [`cmd`]
//! (one per command: its arguments and `run`); anything a test would want to call lives
//! in a library crate (the pipeline itself: `ard_ingest::pipeline`).

use anyhow::Result;
use clap::{Parser, Subcommand};

mod cmd;

/// Turn the DESI spectroscopic archive into an Analysis Ready Dataset.
///
/// desi-ard reads DESI healpix coadds and redshift catalogues exactly as DESI
/// publishes them, computes per-object quantities once, and stores them as columns
/// of a HATS Parquet catalogue with HDF5 spectra. Start with `desi-ard demo`: it
/// simulates a small DESI-format sample, ingests it, queries it and plots a spectrum.
#[derive(Debug, Parser)]
#[command(name = "desi-ard", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    /// Print debug messages (or set RUST_LOG).
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate a DESI-format healpix tree (coadd + redrock per pixel) with truth.
    ///
    /// Galaxies from the E-MILES templates in a mock cosmic web, observed through
    /// DESI-like cameras, resolution and noise. Writes OUT/healpix/main/<program>/...,
    /// OUT/truth/truth.parquet and OUT/truth/web.json. Deterministic for a seed.
    Simulate(cmd::simulate::Args),
    /// Read coadds (a DESI tree, a folder, or one file), merge cameras, join
    /// redshifts, and print a summary per file.
    Read(cmd::read::Args),
    /// Ingest a DESI tree into an ARD (HATS Parquet catalogue + HDF5 spectra).
    ///
    /// Re-running skips unchanged pixels and redoes new or changed ones; a crash at any
    /// point leaves every pixel either as it was or complete. Exits with status 3 when any
    /// pixel failed (all others are still written). Runs `finalize` at the end unless
    /// --shard is given (then run `desi-ard finalize ARD` once all shards are done).
    Ingest(cmd::ingest::Args),
    /// Validate a layer against the simulator's truth on a fresh simulated sample and
    /// print the table that goes in VALIDATION.md (use a release build).
    Validate {
        #[command(subcommand)]
        layer: cmd::validate::Layer,
    },
    /// Topology layer: cosmic-web class, distance to the nearest filament and node, DTFE
    /// density and Σ5 for every galaxy, over overlapping sub-volumes, written into the
    /// catalogue. Run after ingest (and again after ingest adds pixels).
    Topology(cmd::topology::Args),
    /// Run the whole ingest on a Slurm cluster (`cluster plan`), and follow it (`cluster status`).
    Cluster {
        #[command(subcommand)]
        action: cmd::cluster::Action,
    },
    /// Rebuild the HATS metadata, margin cache and exposures table from the pixels
    /// the manifest says are done (after sharded ingests).
    Finalize(cmd::finalize::Args),
    /// What is in an ARD: objects, pixels, columns, layers, disk use, failures.
    Info(cmd::info::Args),
    /// Run a read-only SQL query over the catalogue (`catalog`) and exposures
    /// (`exposures`).
    ///
    /// Functions: angdist(ra1, dec1, ra2, dec2) in degrees; table function
    /// cone_search(ra, dec, radius_deg), e.g.
    ///   SELECT targetid, z FROM cone_search(150.1, 2.2, 0.2) WHERE zwarn = 0
    Sql(cmd::sql::Args),
    /// Fetch one spectrum by TARGETID (its zcat_primary coadd unless --survey and
    /// --program say otherwise); plot it or write it out.
    Spectrum(cmd::spectrum::Args),
    /// The objects most like one (or many): exact k-nearest neighbours by cosine
    /// similarity of an embedding column, nearest first (the query itself first, score 1,
    /// unless --exclude-self). In SQL: similar('emb_pca', TARGETID, K) is a table of
    /// (targetid, survey, program, score, rank).
    Similar(cmd::similar::Args),
    /// Run the physics layer (Dn4000, HδA, stellar kinematics, emission lines) on any one
    /// 1-D spectrum: an SDSS spec file, or a FITS or CSV table of wavelength, flux and ivar
    /// (or error), e.g.
    ///   desi-ard fit spec-0277-51908-0196.fits
    ///   desi-ard fit galaxy.csv --z 0.05 --air --fwhm 2.5
    Fit(cmd::fit::Args),
    /// The original design's science workflows, each writing a table and a figure.
    Workflow {
        #[command(subcommand)]
        name: cmd::workflow::Workflow,
    },
    /// Print the catalogue's column documentation (docs/schema.md) as Markdown.
    Schema,
    /// The whole system on the built-in sample: simulate (if absent), ingest, query,
    /// plot. The README's first command.
    Demo(cmd::demo::Args),
    /// Convert the E-MILES SSPs of the ppxf 8.2.6 sdist into the project's template
    /// file (run by scripts/setup.sh; nothing else downloads anything).
    SetupTemplates(cmd::setup_templates::Args),
}

fn main() {
    let cli = Cli::parse();
    let filter = if cli.verbose { "debug" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(cli.command) {
        // Each cause once (a message that already ends with its cause's text skips it).
        eprintln!("error: {}", ard_core::error::chain(e.as_ref()));
        let code = if e.downcast_ref::<cmd::PixelsFailed>().is_some() { cmd::PixelsFailed::EXIT_CODE } else { 1 };
        std::process::exit(code);
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Read(a) => cmd::read::run(a),
        Command::Ingest(a) => cmd::ingest::run(a),
        Command::Topology(a) => cmd::topology::run(a),
        Command::Finalize(a) => cmd::finalize::run(a),
        Command::Info(a) => cmd::info::run(a),
        Command::Sql(a) => cmd::sql::run(a),
        Command::Spectrum(a) => cmd::spectrum::run(a),
        Command::Similar(a) => cmd::similar::run(a),
        Command::Fit(a) => cmd::fit::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::SetupTemplates(a) => cmd::setup_templates::run(a),
        Command::Validate { layer } => cmd::validate::run(layer),
        Command::Cluster { action } => cmd::cluster::run(action),
        Command::Workflow { name } => cmd::workflow::run(name),
        Command::Schema => cmd::schema::run(),
    }
}
