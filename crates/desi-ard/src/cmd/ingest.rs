//! `desi-ard ingest`: a DESI tree into an ARD, with the layers the flags and the ARD's
//! settings file choose (the pipeline itself is `ard_ingest::pipeline`).

use std::path::{Path, PathBuf};

use anyhow::Result;
use ard_ingest::pipeline::Settings;

use super::PixelsFailed;

/// Arguments of `desi-ard ingest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// DESI production root (with healpix/), folder of coadds, or one coadd file.
    pub raw_root: PathBuf,
    /// The ARD folder (created).
    pub ard: PathBuf,
    /// Threads (default: all cores). As many pixels are processed at once, unless the
    /// memory available (the cgroup limit, e.g. Slurm's --mem, else MemAvailable) holds
    /// fewer pixel workers of about 1 GB each.
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Memory the run may use, e.g. 8G or 1500M, in place of what the machine and its
    /// cgroup allow: it bounds the pixels processed at once.
    #[arg(long, value_name = "SIZE", value_parser = ard_ingest::memory::parse_size)]
    pub memory_limit: Option<u64>,
    /// Spectra read and computed at a time within a pixel (bounds a worker's memory; the
    /// outputs are the same for any value).
    #[arg(long, value_name = "N", default_value_t = ard_ingest::DEFAULT_CHUNK_ROWS as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk_rows: u64,
    /// Take shard k of N (0-based), e.g. --shard 0/4: N machines split the pixels
    /// with no coordinator.
    #[arg(long)]
    pub shard: Option<ard_ingest::Shard>,
    /// With --shard: split largest-first by target count instead of by hash (the
    /// split is written to ARD/manifest/shards.json).
    #[arg(long, requires = "shard")]
    pub balance: bool,
    /// Keep polling RAW_ROOT for new or changed pixels every this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub watch: Option<u64>,
    /// Survey for coadds that do not say (tile-based coadds).
    #[arg(long)]
    pub survey: Option<String>,
    /// Program for coadds that do not say (tile-based coadds).
    #[arg(long)]
    pub program: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub layers: LayerFlags,
    /// Only learn the models the ARD shares (the emb_pca eigenspectra, written to
    /// ARD/models/) and stop: the first step before sharded or Slurm-array ingests.
    #[arg(long)]
    pub fit_models_only: bool,
    /// Learn the shared models again even when ARD/models/ has them (every pixel
    /// is then re-embedded).
    #[arg(long)]
    pub refit_models: bool,
    /// Node-local folder to build each pixel's files in before copying them into the
    /// ARD (for an ARD on a shared cluster file system).
    #[arg(long)]
    pub scratch: Option<PathBuf>,
    /// Redo the pixels written without a broken input even when none of their files
    /// changed (by default a broken file is retried when its size, mtime or hash changes).
    #[arg(long)]
    pub retry_failed: bool,
    /// Take every redshift from this zcatalog (DR1 `zcatalog/v1/zall-pix-iron.fits`, a
    /// `zpix-SURVEY-PROGRAM.fits`, a `ztile-*` or a v2 file) instead of the redrock files.
    /// Without it, the zcatalog DR1 publishes beside the tree (RAW_ROOT/zcatalog/v1/) is used
    /// where there is one.
    #[arg(long, value_name = "FILE", conflicts_with = "no_zcatalog")]
    pub zcatalog: Option<PathBuf>,
    /// Use the redrock files beside the coadds even where RAW_ROOT/zcatalog/v1/ publishes a
    /// zcatalog.
    #[arg(long)]
    pub no_zcatalog: bool,
    /// Join a fastspecfit VAC (`fastspec-iron-main-dark.fits`, HDUs METADATA, SPECPHOT,
    /// FASTSPEC) onto the rows, as the `fsf_*` columns; repeat for several. The
    /// afterburners beside each coadd (emline, qso_mgii, qso_qn) are joined without a flag.
    #[arg(long, value_name = "FILE")]
    pub vac: Vec<PathBuf>,
}

/// `--zcatalog FILE` checked and made absolute (it is recorded in every pixel's manifest,
/// like the other inputs, and read on every node of a cluster).
pub fn zcatalog_path(zcatalog: Option<PathBuf>) -> Result<Option<PathBuf>> {
    match zcatalog {
        Some(p) if !desi_io::is_zcatalog_name(&p) => {
            anyhow::bail!("--zcatalog {}: not a zcatalog name (zpix-*, zall-*, ztile-*)", p.display())
        }
        Some(p) if desi_io::is_v2_companion(&p) => anyhow::bail!(
            "--zcatalog {}: a zcatalog v2 companion (-extra/-imaging); give its base file, the companion beside it is joined",
            p.display()
        ),
        Some(p) => Ok(Some(p.canonicalize().map_err(|e| anyhow::anyhow!("--zcatalog {}: {e}", p.display()))?)),
        None => Ok(None),
    }
}

/// Runs `desi-ard ingest`.
pub fn run(args: Args) -> Result<()> {
    let Args {
        raw_root,
        ard,
        workers,
        memory_limit,
        chunk_rows,
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
        retry_failed,
        zcatalog,
        no_zcatalog,
        vac,
    } = args;
    let zcatalog = zcatalog_path(zcatalog)?;
    let settings = layers.settings(&ard)?;
    let workers = if workers == 0 { settings.workers.unwrap_or(0) } else { workers };
    let mut opts = ard_ingest::IngestOptions {
        raw_root,
        ard: ard.clone(),
        workers,
        shard,
        balance,
        survey,
        program,
        stages: Vec::new(),
        quiet,
        scratch,
        retry_failed,
        zcatalog,
        no_zcatalog,
        vac,
        chunk_rows: chunk_rows as usize,
        memory_limit,
    };
    if fit_models_only {
        // The models step needs no stages: it only learns the shared basis.
        announce_basis(&opts, refit_models, shard.is_some());
        let report = ard_ingest::models::ensure_pca_model(&opts, refit_models)?.map(|(_, r)| r);
        report_basis(report.as_ref());
        return Ok(());
    }
    opts.stages = pipeline_stages(&settings, &opts, refit_models, shard.is_some())?;
    loop {
        let report = ard_ingest::ingest(&opts)?;
        println!(
            "ingest: {} pixels found, {} in this shard: {} processed ({} rows, {} pixel(s) at a time), {} unchanged, {} partial, {} failed, in {:.1} s ({:.0} objects/s)",
            report.pixels_found,
            report.pixels_in_shard,
            report.pixels_done,
            report.rows,
            report.pixel_workers,
            report.pixels_skipped,
            report.partial.len(),
            report.failed.len(),
            report.seconds,
            report.rows as f64 / report.seconds.max(1e-9)
        );
        for n in &report.notes {
            match n.targetid {
                0 => println!("  note: {}: {}", n.file, n.note),
                t => println!("  note: TARGETID {t} ({}): {}", n.file, n.note),
            }
        }
        for (p, e) in &report.failed {
            println!("  FAILED pixel {p}: {e}");
        }
        for (p, broken) in &report.partial {
            for b in broken {
                println!("  PARTIAL pixel {p}: written without {}", ard_ingest::broken_text(b));
            }
        }
        for (f, e) in &report.unreadable {
            println!("  FAILED file {} (in no pixel): {e}", f.display());
        }
        if shard.is_none() && ard_ingest::needs_finalize(&ard) {
            let f = ard_ingest::finalize(&ard)?;
            println!(
                "finalize: {} rows in {} partitions, margin cache {} partitions, {} exposure rows",
                f.rows, f.pixels, f.margin_pixels, f.exposure_rows
            );
        }
        match watch {
            Some(s) => std::thread::sleep(std::time::Duration::from_secs(s.max(1))),
            None => {
                let failures = report.failed.len() + report.unreadable.len() + report.partial.iter().map(|(_, b)| b.len()).sum::<usize>();
                if failures > 0 {
                    return Err(PixelsFailed(failures).into());
                }
                return Ok(());
            }
        }
    }
}

/// The pipeline's stages for `opts`, saying what the basis step does.
pub fn pipeline_stages(
    settings: &Settings,
    opts: &ard_ingest::IngestOptions,
    refit: bool,
    sharded: bool,
) -> Result<Vec<ard_core::StageRef>> {
    if let Some(p) = &settings.astroclip {
        eprintln!("AstroCLIP encoder from {}", p.display());
    }
    announce_basis(opts, refit, sharded);
    let (stages, report) = settings.stages(opts, refit)?;
    report_basis(report.as_ref());
    Ok(stages)
}

fn announce_basis(opts: &ard_ingest::IngestOptions, refit: bool, sharded: bool) {
    let path = ard_store::layout::ArdLayout::new(&opts.ard).models().join(ard_ai::pca::MODEL_FILE);
    if !path.exists() || refit {
        if sharded {
            eprintln!(
                "note: {} has no PCA basis yet; this shard learns it (every shard learns the same one). \
                 Run `desi-ard ingest --fit-models-only` once first to save the work.",
                opts.ard.display()
            );
        }
        if !opts.quiet {
            eprintln!("learning the emb_pca eigenspectra from a fixed subset of the input ...");
        }
    }
}

fn report_basis(report: Option<&ard_ingest::models::ModelReport>) {
    match report {
        Some(r) if r.fitted => println!(
            "models: learned the emb_pca basis from {} spectra of {} pixels in {:.1} s -> {}",
            r.n_train,
            r.pixels_read,
            r.seconds,
            r.path.display()
        ),
        Some(r) => tracing::info!("models: using {} ({} training spectra)", r.path.display(), r.n_train),
        None => println!("models: no spectrum to learn the emb_pca basis from; emb_pca is null (pca_status = no_model)"),
    }
}

/// The flags that choose ingest's per-object layers (shared by `ingest` and `cluster plan`,
/// whose tasks must compute exactly what a single `ingest` would).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LayerFlags {
    /// Skip the physics layer (indices, kinematics, emission lines): core columns only.
    #[arg(long)]
    pub no_physics: bool,
    /// Also run the SED fit (stellar mass, SFR, dust, age posteriors by nested
    /// sampling; seconds per galaxy per core — opt-in).
    #[arg(long)]
    pub sed: bool,
    /// The E-MILES template file (default: the one `scripts/setup.sh` made).
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// AstroCLIP weights (the published `astroclip.ckpt`, a torch state dict or
    /// safetensors): fills emb_astroclip and emb_specformer (null without).
    #[arg(long, value_name = "PATH")]
    pub astroclip: Option<PathBuf>,
    /// Settings file ([ingest] astroclip, templates, physics, workers); default
    /// ARD/desi-ard.toml when it exists. Flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl LayerFlags {
    /// The settings these flags give, the settings file (`--config`, else
    /// `ARD/desi-ard.toml`) filling what they leave unset.
    pub fn settings(&self, ard: &Path) -> Result<Settings> {
        let flags = Settings {
            astroclip: self.astroclip.clone(),
            templates: self.templates.clone(),
            physics: self.no_physics.then_some(false),
            sed: self.sed.then_some(true),
            workers: None,
        };
        Ok(flags.or(Settings::from_file(self.config.as_deref(), ard)?))
    }

    /// The same flags as `desi-ard ingest` arguments (paths made absolute).
    pub fn to_args(&self) -> Result<Vec<String>> {
        let abs = |p: &Path| -> Result<String> { Ok(std::path::absolute(p)?.to_string_lossy().into_owned()) };
        let mut a = Vec::new();
        if self.no_physics {
            a.push("--no-physics".into());
        }
        if self.sed {
            a.push("--sed".into());
        }
        for (flag, p) in [("--templates", &self.templates), ("--astroclip", &self.astroclip), ("--config", &self.config)] {
            if let Some(p) = p {
                a.push(flag.to_string());
                a.push(abs(p)?);
            }
        }
        Ok(a)
    }
}
