//! `desi-ard`: the command-line front of the DESI Analysis Ready Dataset.
//!
//! The binary only parses arguments, calls the library crates and prints; anything a
//! test would want to call lives in a crate.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

mod summary;

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

/// `validate sed --metallicity-prior`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum MetallicityPriorArg {
    /// Gallazzi et al. (2005) mass–metallicity relation (Leja et al. 2019).
    Gallazzi05,
    /// Uniform over the template range.
    Uniform,
}

#[derive(Debug, Subcommand)]
enum ValidateLayer {
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
    },
}

#[derive(Debug, Subcommand)]
enum Workflow {
    /// Start from one Green Pea, retrieve its nearest neighbours in an embedding column,
    /// count the Green-Pea-like ones (with --truth) and plot their spectra.
    GreenPea {
        /// The ARD folder.
        ard: PathBuf,
        /// The Green Pea to start from (default with --truth: the first simulated one).
        #[arg(long)]
        targetid: Option<i64>,
        /// Neighbours to retrieve.
        #[arg(long, default_value_t = 100)]
        k: usize,
        /// Embedding column.
        #[arg(long, default_value = "emb_pca")]
        embedding: String,
        /// The simulator's truth table (OUT/truth/truth.parquet), to say which are Green Peas.
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Output folder for the table (CSV) and the figure (PNG).
        #[arg(long, default_value = "workflow-out")]
        out: PathBuf,
    },
    /// Median specific SFR and quiescent fraction against stellar mass per cosmic-web
    /// class (SELECT logm_p50, logsfr_p50, web_class FROM catalog), voids vs filaments.
    Quenching {
        /// The ARD folder.
        ard: PathBuf,
        /// On a simulated sample without the SED/topology columns: use the simulator's
        /// truth (OUT/truth/truth.parquet) for them, labelled as such.
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Output folder for the table (CSV) and the figure (PNG).
        #[arg(long, default_value = "workflow-out")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ClusterAction {
    /// Write the Slurm batch scripts of the whole ingest and print the chain, or submit
    /// it (--submit): models → ingest array (one task per shard) → finalize → topology
    /// array (one task per sub-volume) → merge, each --dependency=afterok on the one
    /// before. With --resume, only what the ARD's manifest says is missing.
    Plan(summary::ClusterPlanArgs),
    /// Done, failed and pending pixels per shard, sub-volumes and merge, read from the
    /// ARD's manifest and files (not from Slurm).
    Status {
        /// The ARD folder.
        ard: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate a DESI-format healpix tree (coadd + redrock per pixel) with truth.
    ///
    /// Galaxies from the E-MILES templates in a mock cosmic web, observed through
    /// DESI-like cameras, resolution and noise. Writes OUT/healpix/main/<program>/...,
    /// OUT/truth/truth.parquet and OUT/truth/web.json. Deterministic for a seed.
    Simulate {
        /// Output folder (created).
        out: PathBuf,
        /// Random seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Number of galaxies.
        #[arg(long, default_value_t = 2400)]
        objects: usize,
        /// nside-64 NESTED pixels of the footprint, comma-separated (default: the 16
        /// pixels of the COSMOS field's order-4 pixel).
        #[arg(long, value_delimiter = ',')]
        pixels: Option<Vec<u64>>,
        /// Total exposure time of dark-program coadds, s (sets the depth).
        #[arg(long, default_value_t = 1000.0)]
        exptime_dark: f64,
        /// Total exposure time of bright-program coadds, s.
        #[arg(long, default_value_t = 300.0)]
        exptime_bright: f64,
        /// E-MILES template file (default: the set-up cache; see scripts/setup.sh).
        #[arg(long)]
        templates: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Read coadds (a DESI tree, a folder, or one file), merge cameras, join
    /// redshifts, and print a summary per file.
    Read {
        /// A production root (with healpix/), any folder of coadds, or a coadd file.
        input: PathBuf,
        /// Survey, when the files do not say (tile-based coadds).
        #[arg(long)]
        survey: Option<String>,
        /// Program, when the files do not say (tile-based coadds).
        #[arg(long)]
        program: Option<String>,
        /// A redshift file to use instead of each coadd's redrock partner (a DR1
        /// zpix-<survey>-<program>.fits zcatalog, say).
        #[arg(long)]
        redshifts: Option<PathBuf>,
    },
    /// Ingest a DESI tree into an ARD (HATS Parquet catalogue + HDF5 spectra).
    ///
    /// Re-running skips unchanged pixels and redoes new or changed ones; a crash at any
    /// point leaves every pixel either as it was or complete. Exits with status 3 when any
    /// pixel failed (all others are still written). Runs `finalize` at the end unless
    /// --shard is given (then run `desi-ard finalize ARD` once all shards are done).
    Ingest {
        /// DESI production root (with healpix/), folder of coadds, or one coadd file.
        raw_root: PathBuf,
        /// The ARD folder (created).
        ard: PathBuf,
        /// Pixels processed in parallel (default: all cores).
        #[arg(long, default_value_t = 0)]
        workers: usize,
        /// Take shard k of N (0-based), e.g. --shard 0/4: N machines split the pixels
        /// with no coordinator.
        #[arg(long)]
        shard: Option<ard_ingest::Shard>,
        /// With --shard: split largest-first by target count instead of by hash (the
        /// split is written to ARD/manifest/shards.json).
        #[arg(long, requires = "shard")]
        balance: bool,
        /// Keep polling RAW_ROOT for new or changed pixels every this many seconds.
        #[arg(long, value_name = "SECONDS")]
        watch: Option<u64>,
        /// Survey for coadds that do not say (tile-based coadds).
        #[arg(long)]
        survey: Option<String>,
        /// Program for coadds that do not say (tile-based coadds).
        #[arg(long)]
        program: Option<String>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        layers: summary::LayerFlags,
        /// Only learn the models the ARD shares (the emb_pca eigenspectra, written to
        /// ARD/models/) and stop: the first step before sharded or Slurm-array ingests.
        #[arg(long)]
        fit_models_only: bool,
        /// Learn the shared models again even when ARD/models/ has them (every pixel
        /// is then re-embedded).
        #[arg(long)]
        refit_models: bool,
        /// Node-local folder to build each pixel's files in before copying them into the
        /// ARD (for an ARD on a shared cluster file system).
        #[arg(long)]
        scratch: Option<PathBuf>,
    },
    /// Validate a layer against the simulator's truth on a fresh simulated sample and
    /// print the table that goes in VALIDATION.md (use a release build).
    Validate {
        #[command(subcommand)]
        layer: ValidateLayer,
    },
    /// Topology layer: cosmic-web class, distance to the nearest filament and node, DTFE
    /// density and Σ5 for every galaxy, over overlapping sub-volumes, written into the
    /// catalogue. Run after ingest (and again after ingest adds pixels).
    Topology {
        /// The ARD folder.
        ard: PathBuf,
        /// Number of overlapping cubic sub-volumes (same N, same result, however run).
        #[arg(long, default_value_t = 1)]
        subvolumes: usize,
        /// Compute only sub-volume i (0-based) and write its result beside the ARD (one
        /// cluster task each); `--merge` then writes the columns.
        #[arg(long, conflicts_with = "merge")]
        subvolume: Option<usize>,
        /// Stitch the sub-volume results into the catalogue (after every `--subvolume i`).
        #[arg(long)]
        merge: bool,
        #[command(flatten)]
        settings: summary::TopologyFlags,
    },
    /// Run the whole ingest on a Slurm cluster (`cluster plan`), and follow it (`cluster status`).
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// Rebuild the HATS metadata, margin cache and exposures table from the pixels
    /// the manifest says are done (after sharded ingests).
    Finalize {
        /// The ARD folder.
        ard: PathBuf,
    },
    /// What is in an ARD: objects, pixels, columns, layers, disk use, failures.
    Info {
        /// The ARD folder.
        ard: PathBuf,
    },
    /// Run a read-only SQL query over the catalogue (`catalog`) and exposures
    /// (`exposures`).
    ///
    /// Functions: angdist(ra1, dec1, ra2, dec2) in degrees; table function
    /// cone_search(ra, dec, radius_deg), e.g.
    ///   SELECT targetid, z FROM cone_search(150.1, 2.2, 0.2) WHERE zwarn = 0
    Sql {
        /// The ARD folder.
        ard: PathBuf,
        /// The query.
        query: String,
        /// Output format: table, csv, json, parquet or fits.
        #[arg(long, default_value = "table")]
        format: ard_query::output::Format,
        /// Write to this file instead of standard output (required for parquet, fits).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Fetch one spectrum by TARGETID (its zcat_primary coadd unless --survey and
    /// --program say otherwise); plot it or write it out.
    Spectrum {
        /// The ARD folder.
        ard: PathBuf,
        /// TARGETID.
        targetid: i64,
        /// Survey of the coadd to use.
        #[arg(long)]
        survey: Option<String>,
        /// Program of the coadd to use.
        #[arg(long)]
        program: Option<String>,
        /// Write a PNG plot (flux ±1σ, redshift, lines).
        #[arg(long)]
        png: Option<PathBuf>,
        /// Smoothing for the plot, pixels.
        #[arg(long, default_value_t = 3)]
        smooth: usize,
        /// Write the spectrum as csv or fits (to --output, or CSV to standard output).
        #[arg(long)]
        format: Option<String>,
        /// Output file for --format.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// The objects most like one (or many): exact k-nearest neighbours by cosine
    /// similarity of an embedding column, nearest first (the query itself first, score 1,
    /// unless --exclude-self). In SQL: similar('emb_pca', TARGETID, K) is a table of
    /// (targetid, survey, program, score, rank).
    Similar {
        /// The ARD folder.
        ard: PathBuf,
        /// TARGETID to search from (its zcat_primary coadd unless --survey/--program).
        #[arg(long, required_unless_present = "targetids", conflicts_with = "targetids")]
        targetid: Option<i64>,
        /// A file of TARGETIDs, one per line (# comments), searched in one batch.
        #[arg(long)]
        targetids: Option<PathBuf>,
        /// Survey of the query coadd.
        #[arg(long)]
        survey: Option<String>,
        /// Program of the query coadd.
        #[arg(long)]
        program: Option<String>,
        /// Neighbours per query.
        #[arg(long, default_value_t = 100)]
        k: usize,
        /// Embedding column: emb_pca (always there), emb_specformer, emb_astroclip.
        #[arg(long, default_value = "emb_pca")]
        embedding: String,
        /// Search only catalogue rows matching this SQL predicate, e.g. "z < 0.3 AND zwarn = 0".
        #[arg(long = "where", value_name = "PREDICATE")]
        filter: Option<String>,
        /// Catalogue columns to show with each neighbour.
        #[arg(long, value_delimiter = ',', default_value = "z,zwarn,spectype,flux_r")]
        columns: Vec<String>,
        /// Leave each query object out of its own result.
        #[arg(long)]
        exclude_self: bool,
        /// Output format: table, csv, json, parquet or fits.
        #[arg(long, default_value = "table")]
        format: ard_query::output::Format,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Draw the (first) query's spectrum and its nearest neighbours', rest frame, normalised.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Neighbours drawn with --plot.
        #[arg(long, default_value_t = 5)]
        plot_n: usize,
    },
    /// The original design's science workflows, each writing a table and a figure.
    Workflow {
        #[command(subcommand)]
        name: Workflow,
    },
    /// Print the catalogue's column documentation (docs/schema.md) as Markdown.
    Schema,
    /// The whole system on the built-in sample: simulate (if absent), ingest, query,
    /// plot. The README's first command.
    Demo {
        /// Folder for the sample and its ARD.
        #[arg(long, default_value = "demo-out")]
        dir: PathBuf,
        /// Run every layer on every object (later layers may sample a subset by default).
        #[arg(long)]
        full: bool,
        /// E-MILES template file (default: the set-up cache).
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// Convert the E-MILES SSPs of the ppxf 8.2.6 sdist into the project's template
    /// file (run by scripts/setup.sh; nothing else downloads anything).
    SetupTemplates {
        /// The sdist's ppxf/miles_models folder.
        #[arg(long)]
        miles_dir: PathBuf,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    let filter = if cli.verbose { "debug" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        let code = if e.downcast_ref::<PixelsFailed>().is_some() { PixelsFailed::EXIT_CODE } else { 1 };
        std::process::exit(code);
    }
}

/// Ingest attempted every pixel and some failed on their input (each recorded in the
/// manifest): exit status 3, which the cluster chain's ingest tasks count as done so that
/// one bad file does not hold back the catalogue (`cluster status` lists the failures).
#[derive(Debug)]
struct PixelsFailed(usize);

impl PixelsFailed {
    const EXIT_CODE: i32 = 3;
}

impl std::fmt::Display for PixelsFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} pixels or files failed (see above and ARD/manifest)", self.0)
    }
}

impl std::error::Error for PixelsFailed {}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Simulate { out, seed, objects, pixels, exptime_dark, exptime_bright, templates, quiet } => {
            if objects == 0 {
                bail!("--objects must be at least 1");
            }
            let lib = ssp::SspLibrary::locate_and_load(templates.as_deref())?;
            let mut cfg = desi_sim::SimConfig { seed, n_objects: objects, exptime_dark, exptime_bright, ..Default::default() };
            if let Some(p) = pixels {
                if p.iter().any(|&x| x >= 12 * 64 * 64) {
                    bail!("--pixels: nside-64 pixels run from 0 to 49151");
                }
                cfg.pixels = p;
            }
            let t0 = Instant::now();
            let summary = summary::simulate_with_progress(&lib, &cfg, &out, quiet)?;
            println!(
                "simulated {} galaxies ({} Green-Pea-like) as {} spectra in {} coadd files under {} in {:.1} s",
                summary.n_targets,
                summary.n_green_peas,
                summary.n_spectra,
                summary.coadds.len(),
                out.display(),
                t0.elapsed().as_secs_f64()
            );
            println!("truth: {}\nweb:   {}", summary.truth.display(), summary.web.display());
            Ok(())
        }
        Command::Validate {
            layer: ValidateLayer::Sed { objects, seed, exptime_dark, exptime_bright, work, templates, metallicity_prior, metallicity_width },
        } => {
            let prior = match metallicity_prior {
                MetallicityPriorArg::Gallazzi05 => ard_sed::MetallicityPrior::MassMetallicity { width_factor: metallicity_width },
                MetallicityPriorArg::Uniform => ard_sed::MetallicityPrior::TemplateRange,
            };
            let v = summary::ValidationRun { objects, seed, exptime_dark, exptime_bright };
            summary::validate_sed(&v, prior, work.as_deref(), templates.as_deref())
        }
        Command::Validate { layer: ValidateLayer::Embedding { ard, truth, embedding, k } } => {
            let rows = ard_validate::embedding::run(&ard, &truth, &embedding, k)?;
            println!("desi-ard validate embedding {} --truth {} --embedding {embedding} --k {k}\n", ard.display(), truth.display());
            print!("{}", ard_validate::embedding::markdown(&rows, &embedding, k));
            Ok(())
        }
        Command::Validate { layer: ValidateLayer::Physics { objects, seed, exptime_dark, exptime_bright, work, templates } } => {
            summary::validate_physics(objects, seed, exptime_dark, exptime_bright, work.as_deref(), templates.as_deref())
        }
        Command::Ingest {
            raw_root,
            ard,
            workers,
            shard,
            balance,
            watch,
            survey,
            program,
            quiet,
            layers,
            fit_models_only,
            refit_models,
            scratch,
        } => {
            // The models step needs no stages: it only learns the shared basis.
            let resolved = layers.layers(&ard, !fit_models_only)?;
            let workers = if workers == 0 { resolved.workers.unwrap_or(0) } else { workers };
            let stages = resolved.stages;
            let mut opts =
                ard_ingest::IngestOptions { raw_root, ard: ard.clone(), workers, shard, balance, survey, program, stages, quiet, scratch };
            summary::add_pca_stage(&mut opts, refit_models, shard.is_some())?;
            // Last: the topology columns, null until `desi-ard topology` fills them.
            opts.stages.push(std::sync::Arc::new(ard_ingest::topology::TopologyColumns));
            if fit_models_only {
                return Ok(());
            }
            loop {
                let report = ard_ingest::ingest(&opts)?;
                println!(
                    "ingest: {} pixels found, {} in this shard: {} processed ({} rows), {} unchanged, {} failed, in {:.1} s ({:.0} objects/s)",
                    report.pixels_found,
                    report.pixels_in_shard,
                    report.pixels_done,
                    report.rows,
                    report.pixels_skipped,
                    report.failed.len(),
                    report.seconds,
                    report.rows as f64 / report.seconds.max(1e-9)
                );
                for n in &report.notes {
                    println!("  note: TARGETID {} ({}): {}", n.targetid, n.file, n.note);
                }
                for (p, e) in &report.failed {
                    println!("  FAILED pixel {p}: {e}");
                }
                for (f, e) in &report.unreadable {
                    println!("  FAILED file {} (in no pixel): {e}", f.display());
                }
                if shard.is_none() && (report.pixels_done > 0 || !ard.join("catalog/collection.properties").exists()) {
                    let f = ard_ingest::finalize(&ard)?;
                    println!(
                        "finalize: {} rows in {} partitions, margin cache {} partitions, {} exposure rows",
                        f.rows, f.pixels, f.margin_pixels, f.exposure_rows
                    );
                }
                match watch {
                    Some(s) => std::thread::sleep(std::time::Duration::from_secs(s.max(1))),
                    None => {
                        if !report.failed.is_empty() || !report.unreadable.is_empty() {
                            return Err(PixelsFailed(report.failed.len() + report.unreadable.len()).into());
                        }
                        return Ok(());
                    }
                }
            }
        }
        Command::Finalize { ard } => {
            let f = ard_ingest::finalize(&ard)?;
            println!(
                "finalize: {} rows in {} partitions, margin cache {} partitions, {} exposure rows{}",
                f.rows,
                f.pixels,
                f.margin_pixels,
                f.exposure_rows,
                if f.withdrawn > 0 { format!(", {} leaves withdrawn (no done manifest record)", f.withdrawn) } else { String::new() }
            );
            Ok(())
        }
        Command::Info { ard } => summary::info(&ard),
        Command::Cluster { action: ClusterAction::Plan(args) } => summary::cluster_plan(args),
        Command::Cluster { action: ClusterAction::Status { ard } } => summary::cluster_status(&ard),
        Command::Topology { ard, subvolumes, subvolume, merge, settings } => {
            let opts = settings.options(subvolumes);
            let step = match (subvolume, merge) {
                (Some(i), _) => ard_ingest::topology::TopologyStep::One(i),
                (None, true) => ard_ingest::topology::TopologyStep::Merge,
                (None, false) => ard_ingest::topology::TopologyStep::All,
            };
            let r = ard_ingest::topology::run(&ard, &opts, step, &|m| eprintln!("topology: {m}"))?;
            if r.leaves > 0 {
                println!(
                    "topology: {} galaxies in the density-defining population; {} rows in {} leaves written: void {}, sheet {}, filament {}, knot {}; {:.1} s",
                    r.galaxies, r.rows, r.leaves, r.class_counts[0], r.class_counts[1], r.class_counts[2], r.class_counts[3], r.seconds
                );
            } else {
                println!("topology: sub-volume done in {:.1} s; run with --merge once every sub-volume is done", r.seconds);
            }
            Ok(())
        }
        Command::Sql { ard, query, format, output } => {
            let q = ard_query::ArdQuery::open(&ard)?;
            let rows = q.sql(&query)?;
            if let Some(text) = ard_query::output::write(&rows, format, output.as_deref())? {
                print!("{text}");
                if !text.ends_with('\n') {
                    println!();
                }
            }
            if let Some(o) = output {
                let n: usize = rows.iter().map(|b| b.num_rows()).sum();
                eprintln!("wrote {n} rows to {}", o.display());
            }
            Ok(())
        }
        Command::Spectrum { ard, targetid, survey, program, png, smooth, format, output } => {
            let t0 = Instant::now();
            let q = ard_query::ArdQuery::open(&ard)?;
            let Some(s) = q.spectrum(targetid, survey.as_deref(), program.as_deref())? else {
                bail!(
                    "TARGETID {targetid}{} is not in {}",
                    match (&survey, &program) {
                        (None, None) => String::new(),
                        _ => format!(" (survey {:?}, program {:?})", survey, program),
                    },
                    ard.display()
                );
            };
            eprintln!(
                "TARGETID {} ({} {}), z = {:.5}: {} pixels, looked up in {:.0} ms",
                s.targetid,
                s.survey,
                s.program,
                s.z,
                s.flux.len(),
                t0.elapsed().as_secs_f64() * 1e3
            );
            if let Some(p) = &png {
                let title = format!("TARGETID {}  {} {}  z = {:.4}", s.targetid, s.survey, s.program, s.z);
                ard_query::plot::plot_spectrum(p, &title, &s.wavelength, &s.flux, &s.ivar, s.z, smooth)?;
                eprintln!("plot: {}", p.display());
            }
            if let Some(fmt) = format {
                summary::write_spectrum(&s, &fmt, output.as_deref())?;
            } else if png.is_none() {
                summary::write_spectrum(&s, "csv", output.as_deref())?;
            }
            Ok(())
        }
        Command::Similar {
            ard,
            targetid,
            targetids,
            survey,
            program,
            k,
            embedding,
            filter,
            columns,
            exclude_self,
            format,
            output,
            plot,
            plot_n,
        } => summary::similar(summary::SimilarArgs {
            ard,
            targetid,
            targetids,
            survey,
            program,
            k,
            embedding,
            filter,
            columns,
            exclude_self,
            format,
            output,
            plot,
            plot_n,
        }),
        Command::Workflow { name } => match name {
            Workflow::GreenPea { ard, targetid, k, embedding, truth, out } => {
                let q = ard_query::ArdQuery::open(&ard)?;
                let opts = ard_query::workflow::GreenPeaOptions { targetid, k, column: embedding, truth, out_dir: out, n_plot: 5 };
                let r = ard_query::workflow::green_pea_hunt(&q, &opts)?;
                println!("Green Pea hunt from TARGETID {}: {} neighbours in {}", r.query, r.n_neighbours, opts.column);
                if let (Some(n), Some(p)) = (r.n_green_pea, r.precision_at_20) {
                    println!("  {n} of {} are Green-Pea-like (simulator truth); precision@20 = {p:.2}", r.n_neighbours);
                }
                println!("  table:  {}\n  figure: {}", r.table.display(), r.figure.display());
                Ok(())
            }
            Workflow::Quenching { ard, truth, out } => {
                let q = ard_query::ArdQuery::open(&ard)?;
                let r = ard_query::workflow::environmental_quenching(&q, truth.as_deref(), &out)?;
                println!("environmental quenching: {} galaxies in {} bins; source: {}", r.n_galaxies, r.bins.len(), r.source);
                println!("  web class   log M*       n   median log sSFR   quiescent fraction");
                for b in &r.bins {
                    println!(
                        "  {:<9} {:5.2}-{:5.2} {:5}   {:7.3} ± {:.3}     {:.3} ± {:.3}",
                        ard_query::workflow::WEB_CLASSES[b.web_class as usize],
                        b.logm_lo,
                        b.logm_hi,
                        b.n,
                        b.median_log_ssfr,
                        b.median_err,
                        b.quiescent_fraction,
                        b.quiescent_err
                    );
                }
                println!("  table:  {}\n  figure: {}", r.table.display(), r.figure.display());
                Ok(())
            }
        },
        Command::Schema => {
            print!("{}", summary::schema_markdown());
            Ok(())
        }
        Command::Demo { dir, full, templates } => summary::demo(&dir, full, templates.as_deref()),
        Command::Read { input, survey, program, redshifts } => summary::read_and_summarise(&input, survey, program, redshifts),
        Command::SetupTemplates { miles_dir, out } => {
            let report = ssp::build_from_miles(&miles_dir, &out).with_context(|| format!("converting {}", miles_dir.display()))?;
            println!(
                "wrote {} SSPs ({} ages {:.4}–{:.2} Gyr × {} [M/H] {:+.2}…{:+.2}) to {}",
                report.n_ssp,
                report.ages.len(),
                report.ages[0],
                report.ages[report.ages.len() - 1],
                report.metals.len(),
                report.metals[0],
                report.metals[report.metals.len() - 1],
                out.display()
            );
            Ok(())
        }
    }
}
