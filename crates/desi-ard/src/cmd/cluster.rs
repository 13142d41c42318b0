//! `desi-ard cluster`: the whole ingest as a chain of Slurm jobs, and its progress.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// `desi-ard cluster` actions.
// Parsed once per run: the size of the `plan` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Write the Slurm batch scripts of the whole ingest and print the chain, or submit
    /// it (--submit): models → ingest array (one task per shard) → finalize → topology
    /// array (one task per sub-volume) → merge, each --dependency=afterok on the one
    /// before. With --resume, only what the ARD's manifest says is missing.
    Plan(PlanArgs),
    /// Done, failed and pending pixels per shard, sub-volumes and merge, read from the
    /// ARD's manifest and files (not from Slurm).
    Status {
        /// The ARD folder.
        ard: PathBuf,
    },
}

/// Runs `desi-ard cluster ...`.
pub fn run(action: Action) -> Result<()> {
    match action {
        Action::Plan(a) => plan(a),
        Action::Status { ard } => status(&ard),
    }
}

/// `desi-ard cluster plan`'s arguments.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// DESI production root (with healpix/), on a path every node mounts.
    pub raw_root: PathBuf,
    /// The ARD folder, on a path every node mounts.
    pub ard: PathBuf,
    /// Nodes of the cluster (sets the default numbers of shards and sub-volumes).
    #[arg(long)]
    pub nodes: usize,
    /// GPUs per node: with AstroCLIP weights each ingest task asks for one (--gres=gpu:1).
    #[arg(long, default_value_t = 0)]
    pub gpus_per_node: usize,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm account.
    #[arg(long)]
    pub account: Option<String>,
    /// Time limit of every job (Slurm's format).
    #[arg(long, default_value = "24:00:00")]
    pub time: String,
    /// CPUs of every task (its threads: SLURM_CPUS_PER_TASK).
    #[arg(long, default_value_t = 8)]
    pub cpus_per_task: usize,
    /// Memory of each array task (the single jobs take a node's memory: --mem=0).
    #[arg(long, default_value = "32G")]
    pub mem: String,
    /// Ingest shards, split largest-first by target count (default: 4 per node, or
    /// the previous plan's with --resume).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Topology sub-volumes (default: 4 per node, or the previous plan's with --resume).
    #[arg(long)]
    pub subvolumes: Option<usize>,
    #[command(flatten)]
    pub topology: super::topology::TopologyFlags,
    /// Node-local scratch folder for the ingest tasks' files (copied into the ARD).
    #[arg(long)]
    pub scratch: Option<PathBuf>,
    /// Take every redshift from this zcatalog (see `desi-ard ingest --zcatalog`; it must be
    /// on a shared path).
    #[arg(long, value_name = "FILE", conflicts_with = "no_zcatalog")]
    pub zcatalog: Option<PathBuf>,
    /// Use the redrock files even where RAW_ROOT/zcatalog/v1/ publishes a zcatalog.
    #[arg(long)]
    pub no_zcatalog: bool,
    /// Join these fastspecfit VACs (see `desi-ard ingest --vac`; on a shared path).
    #[arg(long, value_name = "FILE")]
    pub vac: Vec<PathBuf>,
    /// The desi-ard binary the nodes run (default: this one; it must be on a shared path).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    #[command(flatten)]
    pub layers: super::ingest::LayerFlags,
    /// Only what is missing: shards with pixels not current, then the steps after them.
    #[arg(long)]
    pub resume: bool,
    /// Submit the chain with sbatch (else print it; ARD/cluster/plan-K/submit.sh does the same).
    #[arg(long)]
    pub submit: bool,
}

/// `desi-ard cluster status`.
fn status(ard: &Path) -> Result<()> {
    let st = ard_cluster::status(ard)?;
    print!("{}", ard_cluster::status_text(&st));
    Ok(())
}

/// `desi-ard cluster plan`.
fn plan(a: PlanArgs) -> Result<()> {
    let raw_root = std::path::absolute(&a.raw_root)?;
    let ard = std::path::absolute(&a.ard)?;
    std::fs::create_dir_all(&ard).with_context(|| format!("creating {}", ard.display()))?;
    let previous = if a.resume { ard_cluster::Plan::read_latest(&ard).ok() } else { None };
    let per_node = 4 * a.nodes.max(1);
    let shards = a.shards.or(previous.as_ref().map(|p| p.shards)).unwrap_or(per_node);
    let subvolumes = a.subvolumes.or(previous.as_ref().map(|p| p.subvolumes)).unwrap_or(per_node);
    let binary = match &a.binary {
        Some(b) => std::path::absolute(b)?,
        None => std::env::current_exe().context("locating this desi-ard binary (give --binary)")?,
    };
    if !binary.exists() {
        bail!("--binary {}: no such file", binary.display());
    }
    let scratch = a.scratch.as_ref().map(std::path::absolute).transpose()?;
    // What a single ingest with these flags would fingerprint: needs the stages and
    // the learned basis, so only when resuming with a basis present.
    let model = ard_store::layout::ArdLayout::new(&ard).models().join(ard_ingest::models::MODEL_FILE);
    let settings = a.layers.settings(&ard)?;
    let ingest_config = if a.resume && model.exists() {
        let opts = ard_ingest::IngestOptions::new(raw_root.clone(), ard.clone());
        let (stages, _) = settings.stages(&opts, false)?;
        Some(ard_ingest::config_fingerprint(&stages))
    } else {
        None
    };
    let spec = ard_cluster::ChainSpec {
        raw_root,
        ard,
        binary,
        shards,
        ingest_args: a.layers.to_args()?,
        ingest_uses_gpu: settings.astroclip.is_some(),
        scratch,
        zcatalog: super::ingest::zcatalog_path(a.zcatalog.clone())?,
        no_zcatalog: a.no_zcatalog,
        vac: a.vac.iter().map(|v| v.canonicalize().map_err(|e| anyhow::anyhow!("--vac {}: {e}", v.display()))).collect::<Result<_>>()?,
        topology: a.topology.options(subvolumes),
        ingest_config,
    };
    let resources = ard_cluster::SlurmResources {
        nodes: a.nodes,
        gpus_per_node: a.gpus_per_node,
        partition: a.partition,
        account: a.account,
        time: a.time,
        cpus_per_task: a.cpus_per_task,
        mem: a.mem,
    };
    let plan = ard_cluster::plan_chain(&spec, &resources, a.resume)?;
    print!("{}", ard_cluster::plan_text(&plan));
    if plan.is_empty() {
        return Ok(());
    }
    if a.submit {
        let sbatch = std::env::var("DESI_ARD_SBATCH").unwrap_or_else(|_| "sbatch".into());
        for s in ard_cluster::submit(&plan, &sbatch)? {
            println!("submitted {} as job {}", s.step.name(), s.job_id);
        }
        println!("follow it with: desi-ard cluster status {}", plan.ard.display());
    } else {
        println!("submit with: bash {}", plan.dir.join("submit.sh").display());
    }
    Ok(())
}
