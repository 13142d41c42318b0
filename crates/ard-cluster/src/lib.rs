//! `ard-cluster` owns running the whole ingest on a Slurm cluster: it turns an ingest
//! into a chain of `sbatch` scripts, submits them with `--dependency=afterok`, and reads
//! the progress back from the ARD's manifest (never from Slurm), so that a resubmitted
//! plan schedules only what is missing.
//!
//! The chain ([`Step`]) is
//!
//! ```text
//! models ──afterok──▶ ingest array (one task per shard) ──▶ finalize ──▶ topology array
//!   (PCA basis,          --shard $SLURM_ARRAY_TASK_ID/S --balance        (one task per   ──▶ merge
//!    ARD/models/)                                                          sub-volume)
//! ```
//!
//! Nothing of desi-ard's own runs on the nodes but the `desi-ard` binary: every task is
//! idempotent because ingest commits each pixel atomically (catalogue leaf, exposures
//! leaf and spectra, the manifest record last) and skips pixels that are current, and a
//! topology sub-volume writes its result atomically under a fingerprint of the catalogue
//! it read. A failed or pre-empted task therefore needs no clean-up: `afterok` cancels what
//! depends on it (`--kill-on-invalid-dep=yes`), and [`plan_chain`] with `resume` schedules
//! the shards with pixels not yet current, then whatever follows them.
//!
//! Assumptions about the cluster (also in the README): RAW_ROOT, the ARD and the binary
//! are on a file system every node mounts at the same path; each task writes only its own
//! pixels' files (temporaries carry host and PID, so concurrent tasks never remove each
//! other's); with a scratch folder, pixel files are built on node-local disk and copied in.
#![deny(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use ard_ingest::topology::{SubvolumeState, TopologyOptions};
use ard_store::layout::ArdLayout;
use ard_store::manifest::{PixelRecord, PixelStatus};
use serde::{Deserialize, Serialize};

/// Errors of cluster planning, submission and status.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Reading the input tree or the ARD failed.
    #[error(transparent)]
    Ingest(#[from] ard_ingest::IngestError),
    /// Reading or writing the ARD's files failed.
    #[error(transparent)]
    Store(#[from] ard_store::StoreError),
    /// `sbatch` failed or answered something that is not a job id.
    #[error("sbatch {script}: {message}")]
    Submit {
        /// The batch script.
        script: PathBuf,
        /// What sbatch said.
        message: String,
    },
    /// The ARD has no readable cluster plan.
    #[error("{}: no cluster plan; run `desi-ard cluster plan` first", path.display())]
    NoPlan {
        /// The plan file expected.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The plan file is not a plan this version writes.
    #[error("{}: not a cluster plan", path.display())]
    BadPlan {
        /// The plan file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A count setting is 0.
    #[error("--nodes, --shards, --subvolumes and --cpus-per-task must be at least 1")]
    ZeroCount,
    /// A path the nodes read is relative.
    #[error("{what} {} must be an absolute path (every node must find it)", path.display())]
    RelativePath {
        /// Which setting.
        what: &'static str,
        /// The path given.
        path: PathBuf,
    },
    /// A Slurm command could not be started.
    #[error("cannot run {program}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A plan could not be serialised.
    #[error("writing the plan {}", path.display())]
    Plan {
        /// The plan file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
    move |e| ard_store::StoreError::io(path, e).into()
}

/// The resources the chain asks Slurm for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlurmResources {
    /// Nodes of the cluster (sets the default numbers of shards and sub-volumes).
    pub nodes: usize,
    /// GPUs per node; with AstroCLIP weights, each ingest task asks for one (`--gres=gpu:1`).
    pub gpus_per_node: usize,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--time` of every job, e.g. `24:00:00`.
    pub time: String,
    /// `--cpus-per-task` of every job; tasks use this many threads (`SLURM_CPUS_PER_TASK`).
    pub cpus_per_task: usize,
    /// `--mem` of each array task (ingest shard, topology sub-volume), e.g. `32G`. The
    /// single jobs (models, finalize, merge) ask for a whole node's memory (`--mem=0`).
    pub mem: String,
}

/// What the chain computes: the same settings a single-process `desi-ard ingest` and
/// `desi-ard topology` would be given.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainSpec {
    /// The DESI tree (absolute; the same path on every node).
    pub raw_root: PathBuf,
    /// The ARD (absolute; on the shared file system).
    pub ard: PathBuf,
    /// The `desi-ard` binary every node runs (absolute; on the shared file system).
    pub binary: PathBuf,
    /// Shards of the ingest array (largest-first by target count).
    pub shards: usize,
    /// Extra `desi-ard ingest` flags (`--no-physics`, `--sed`, `--astroclip PATH`, ...).
    pub ingest_args: Vec<String>,
    /// Whether ingest runs a GPU stage (AstroCLIP): its tasks then ask for a GPU.
    pub ingest_uses_gpu: bool,
    /// Node-local scratch folder for the ingest tasks.
    pub scratch: Option<PathBuf>,
    /// `--zcatalog FILE` of every ingest (absolute; on the shared file system).
    pub zcatalog: Option<PathBuf>,
    /// `--no-zcatalog`: the redrock files even where the tree publishes a zcatalog.
    pub no_zcatalog: bool,
    /// `--vac FILE` of every ingest (absolute; on the shared file system).
    pub vac: Vec<PathBuf>,
    /// Topology settings (`subvolumes` is the size of the topology array).
    pub topology: TopologyOptions,
    /// `config_fingerprint` of the ingest stages these flags make, when it can be known
    /// before the run (it needs the learned PCA basis); `None` makes every pixel pending.
    pub ingest_config: Option<String>,
}

/// The steps of the chain, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Learn the shared models (`ingest --fit-models-only`).
    Models,
    /// The per-pixel stage: one array task per shard.
    Ingest,
    /// HATS metadata, margin cache, exposures.
    Finalize,
    /// One array task per topology sub-volume.
    Topology,
    /// Stitch the sub-volumes into the catalogue.
    Merge,
}

impl Step {
    /// All steps, in order.
    pub const ALL: [Step; 5] = [Step::Models, Step::Ingest, Step::Finalize, Step::Topology, Step::Merge];
    /// Short name (job names, script names).
    pub fn name(self) -> &'static str {
        match self {
            Step::Models => "models",
            Step::Ingest => "ingest",
            Step::Finalize => "finalize",
            Step::Topology => "topology",
            Step::Merge => "merge",
        }
    }
}

/// One batch job of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedJob {
    /// Which step.
    pub step: Step,
    /// Array task ids (shards or sub-volumes); `None` for a single job.
    pub array: Option<Vec<usize>>,
    /// The batch script.
    pub script: PathBuf,
    /// Why it is scheduled (for the printed plan).
    pub reason: String,
}

/// A plan: the jobs to submit, in dependency order (each `afterok` on the one before).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The DESI tree.
    pub raw_root: PathBuf,
    /// The ARD.
    pub ard: PathBuf,
    /// Folder of this plan's scripts (`ARD/cluster/plan-K/`).
    pub dir: PathBuf,
    /// Shards of the ingest array.
    pub shards: usize,
    /// Topology sub-volumes.
    pub subvolumes: usize,
    /// Topology buffer, Mpc.
    pub buffer_mpc: f64,
    /// Topology persistence significance, σ.
    pub n_sigma: f64,
    /// Topology trimming threshold.
    pub trim_below: f64,
    /// Shard of every pixel of the input.
    pub assignment: BTreeMap<u64, usize>,
    /// Targets per pixel (from the input headers).
    pub targets: BTreeMap<u64, usize>,
    /// Pixels not current when the plan was made.
    pub pending_pixels: Vec<u64>,
    /// The jobs, in order.
    pub jobs: Vec<PlannedJob>,
}

impl Plan {
    /// `ARD/cluster/plan.json`, the newest plan (what `status` reads).
    pub fn latest_path(ard: &Path) -> PathBuf {
        ard.join("cluster").join("plan.json")
    }
    /// Reads the newest plan of an ARD.
    pub fn read_latest(ard: &Path) -> Result<Plan, ClusterError> {
        let p = Self::latest_path(ard);
        let text = std::fs::read_to_string(&p).map_err(|source| ClusterError::NoPlan { path: p.clone(), source })?;
        serde_json::from_str(&text).map_err(|source| ClusterError::BadPlan { path: p, source })
    }
    /// The topology settings the plan runs with.
    pub fn topology_options(&self) -> TopologyOptions {
        let mut t = TopologyOptions { subvolumes: self.subvolumes, buffer_mpc: self.buffer_mpc, ..Default::default() };
        t.web.skeleton.n_sigma = self.n_sigma;
        t.web.skeleton.trim_below = self.trim_below;
        t
    }
    /// Whether nothing is left to run.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

/// Quotes a word for a POSIX shell.
fn sh(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "/._-=:,+%@".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

fn sh_path(p: &Path) -> String {
    sh(&p.to_string_lossy())
}

/// Compresses sorted task ids into Slurm's array syntax: `0-3,7,9-10`.
pub fn array_spec(ids: &[usize]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        out.push(if j > i { format!("{}-{}", ids[i], ids[j]) } else { ids[i].to_string() });
        i = j + 1;
    }
    out.join(",")
}

/// Which steps and array tasks are needed, from the input tree and the ARD's state.
struct Needed {
    assignment: BTreeMap<u64, usize>,
    targets: BTreeMap<u64, usize>,
    pending: Vec<u64>,
    models: Option<String>,
    shards: Option<(Vec<usize>, String)>,
    finalize: Option<String>,
    subvolumes: Option<(Vec<usize>, String)>,
    merge: Option<String>,
}

fn needed(spec: &ChainSpec, resume: bool) -> Result<Needed, ClusterError> {
    let raw_root = spec.raw_root.canonicalize().map_err(io_err(&spec.raw_root))?;
    let mut pixels = ard_ingest::plan(&raw_root)?;
    // The inputs every ingest task will record, so that --resume compares like with like.
    ard_ingest::choose_redshifts(&mut pixels, &raw_root, spec.zcatalog.as_deref(), spec.no_zcatalog)?;
    ard_ingest::joins::attach_vacs(&mut pixels, &spec.vac)?;
    let assignment = ard_ingest::balanced_assignment(&pixels, spec.shards);
    let targets: BTreeMap<u64, usize> = pixels.iter().map(|(p, v)| (*p, v.iter().map(|i| i.n_targets).sum())).collect();
    let layout = ArdLayout::new(&spec.ard);
    let all_shards: Vec<usize> = (0..spec.shards).collect();
    let all_subs: Vec<usize> = (0..spec.topology.subvolumes).collect();
    if !resume {
        return Ok(Needed {
            assignment,
            targets,
            pending: pixels.keys().copied().collect(),
            models: Some("learn (or load) the shared PCA basis".into()),
            shards: Some((all_shards, "every shard".into())),
            finalize: Some("HATS metadata of the new pixels".into()),
            subvolumes: Some((all_subs, "every sub-volume".into())),
            merge: Some("topology columns".into()),
        });
    }
    let model_present = layout.models().join(ard_ingest::models::MODEL_FILE).exists();
    let pending: Vec<u64> = match (&spec.ingest_config, model_present) {
        (Some(config), true) => pixels
            .iter()
            .filter(|(p, inputs)| !ard_ingest::pixel_is_current(&layout, **p, inputs, config, false))
            .map(|(p, _)| *p)
            .collect(),
        _ => pixels.keys().copied().collect(),
    };
    let shard_ids: BTreeSet<usize> = pending.iter().map(|p| assignment[p]).collect();
    let shards = (!shard_ids.is_empty())
        .then(|| (shard_ids.into_iter().collect::<Vec<_>>(), format!("{} pixels not ingested with these settings", pending.len())));
    let models = (!model_present).then(|| "no PCA basis in ARD/models/".to_string());
    let done: BTreeSet<u64> = PixelRecord::all(&layout)?.into_iter().filter(|r| r.status == PixelStatus::Done).map(|r| r.pixel).collect();
    let finalized = finalized_pixels(&spec.ard);
    let finalize = if shards.is_some() {
        Some("after the ingest tasks".to_string())
    } else if finalized.as_ref() != Some(&done) || !layout.collection().join("collection.properties").exists() {
        Some("HATS metadata does not list exactly the ingested pixels".to_string())
    } else {
        None
    };
    let subvolumes = if shards.is_some() || models.is_some() {
        Some((all_subs, "the catalogue changes: every sub-volume".to_string()))
    } else {
        let states = ard_ingest::topology::subvolume_states(&spec.ard, &spec.topology)?;
        let ids: Vec<usize> = states.iter().enumerate().filter(|(_, s)| **s != SubvolumeState::Current).map(|(i, _)| i).collect();
        (!ids.is_empty()).then(|| (ids, "no result for this catalogue and these settings".to_string()))
    };
    let merge = if subvolumes.is_some() {
        Some("after the sub-volumes".to_string())
    } else if !topology_current(&spec.ard, &spec.topology)? {
        Some("topology columns not from these sub-volumes".to_string())
    } else {
        None
    };
    Ok(Needed { assignment, targets, pending, models, shards, finalize, subvolumes, merge })
}

/// The pixels the catalogue's HATS metadata lists (`partition_info.csv`), if finalized.
fn finalized_pixels(ard: &Path) -> Option<BTreeSet<u64>> {
    let csv = std::fs::read_to_string(ArdLayout::new(ard).catalog().join("partition_info.csv")).ok()?;
    Some(csv.lines().skip(1).filter_map(|l| l.split(',').nth(1)?.trim().parse().ok()).collect())
}

/// Whether the topology columns come from a merge with these settings over the current catalogue.
fn topology_current(ard: &Path, opts: &TopologyOptions) -> Result<bool, ClusterError> {
    let state = ard_ingest::topology::TopologyState::read(ard)?;
    let Some(last) = state.last_run else { return Ok(false) };
    let same = last.subvolumes == opts.subvolumes
        && last.buffer_mpc == opts.buffer_mpc
        && last.n_sigma == opts.web.skeleton.n_sigma
        && last.trim_below == opts.web.skeleton.trim_below;
    Ok(same && ard_ingest::topology::stale_pixels(ard)?.is_empty())
}

fn header(job: &str, res: &SlurmResources, logs: &Path, array: Option<&[usize]>, mem: &str, gpu: bool) -> String {
    let mut s = String::from("#!/bin/bash\n");
    let _ = writeln!(s, "#SBATCH --job-name=desi-ard-{job}");
    if let Some(ids) = array {
        let _ = writeln!(s, "#SBATCH --array={}", array_spec(ids));
        let _ = writeln!(s, "#SBATCH --output={}", logs.join(format!("{job}-%A_%a.out")).display());
    } else {
        let _ = writeln!(s, "#SBATCH --output={}", logs.join(format!("{job}-%j.out")).display());
    }
    let _ = writeln!(s, "#SBATCH --open-mode=append");
    let _ = writeln!(s, "#SBATCH --nodes=1\n#SBATCH --ntasks=1");
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", res.cpus_per_task);
    let _ = writeln!(s, "#SBATCH --mem={mem}");
    let _ = writeln!(s, "#SBATCH --time={}", res.time);
    if let Some(p) = &res.partition {
        let _ = writeln!(s, "#SBATCH --partition={p}");
    }
    if let Some(a) = &res.account {
        let _ = writeln!(s, "#SBATCH --account={a}");
    }
    if gpu {
        let _ = writeln!(s, "#SBATCH --gres=gpu:1");
    }
    // Pre-empted tasks go back to the queue; re-running a task is always safe.
    let _ = writeln!(s, "#SBATCH --requeue");
    s.push_str("set -euo pipefail\n");
    s.push_str("export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
    s.push_str("echo \"desi-ard: job ${SLURM_JOB_ID} task ${SLURM_ARRAY_TASK_ID:--} on node ${SLURMD_NODENAME:-?} ($(hostname)) at $(date -u +%FT%TZ)\"\n");
    s
}

fn topology_args(t: &TopologyOptions) -> String {
    format!(
        "--subvolumes {} --buffer {} --nsig {} --trim {}",
        t.subvolumes, t.buffer_mpc, t.web.skeleton.n_sigma, t.web.skeleton.trim_below
    )
}

fn script(step: Step, spec: &ChainSpec, res: &SlurmResources, logs: &Path, array: Option<&[usize]>) -> String {
    let bin = sh_path(&spec.binary);
    let (raw, ard) = (sh_path(&spec.raw_root), sh_path(&spec.ard));
    let mut extra: String = spec.ingest_args.iter().map(|a| format!(" {}", sh(a))).collect();
    if let Some(z) = &spec.zcatalog {
        extra += &format!(" --zcatalog {}", sh_path(z));
    }
    if spec.no_zcatalog {
        extra += " --no-zcatalog";
    }
    for v in &spec.vac {
        extra += &format!(" --vac {}", sh_path(v));
    }
    let scratch = spec.scratch.as_ref().map(|d| format!(" --scratch {}", sh_path(d))).unwrap_or_default();
    let whole_node = "0";
    match step {
        Step::Models => header("models", res, logs, None, whole_node, false)
            + &format!("exec {bin} ingest {raw} {ard} --fit-models-only --workers \"${{SLURM_CPUS_PER_TASK:-0}}\" --quiet{extra}\n"),
        Step::Ingest => {
            header("ingest", res, logs, array, &res.mem, spec.ingest_uses_gpu && res.gpus_per_node > 0)
                + &format!(
                    "rc=0\n{bin} ingest {raw} {ard} --shard \"${{SLURM_ARRAY_TASK_ID}}/{}\" --balance --workers \"${{SLURM_CPUS_PER_TASK:-0}}\" --quiet{scratch}{extra} || rc=$?\n\
                     # 3: every pixel was attempted and some failed on their input (in the manifest; `cluster status`\n\
                     # lists them): the chain goes on without them. Anything else non-zero stops it.\n\
                     if [ \"$rc\" = 3 ]; then echo \"desi-ard: pixels failed on their input; continuing\"; exit 0; fi\nexit \"$rc\"\n",
                    spec.shards
                )
        }
        Step::Finalize => header("finalize", res, logs, None, whole_node, false) + &format!("exec {bin} finalize {ard}\n"),
        Step::Topology => header("topology", res, logs, array, &res.mem, false)
            + &format!("exec {bin} topology {ard} {} --subvolume \"${{SLURM_ARRAY_TASK_ID}}\"\n", topology_args(&spec.topology)),
        Step::Merge => {
            header("merge", res, logs, None, whole_node, false) + &format!("exec {bin} topology {ard} {} --merge\n", topology_args(&spec.topology))
        }
    }
}

/// Makes a plan: works out what is missing (everything unless `resume`), writes one batch
/// script per needed step and `submit.sh` (the same submission by hand) into a new
/// `ARD/cluster/plan-K/`, and records the plan as `ARD/cluster/plan.json`.
pub fn plan_chain(spec: &ChainSpec, res: &SlurmResources, resume: bool) -> Result<Plan, ClusterError> {
    if spec.shards == 0 || spec.topology.subvolumes == 0 || res.cpus_per_task == 0 || res.nodes == 0 {
        return Err(ClusterError::ZeroCount);
    }
    let paths = [
        ("RAW_ROOT", Some(&spec.raw_root)),
        ("ARD", Some(&spec.ard)),
        ("--binary", Some(&spec.binary)),
        ("--zcatalog", spec.zcatalog.as_ref()),
    ];
    for (what, p) in paths.into_iter().filter_map(|(w, p)| p.map(|p| (w, p))) {
        if !p.is_absolute() {
            return Err(ClusterError::RelativePath { what, path: p.clone() });
        }
    }
    let need = needed(spec, resume)?;
    let cluster = spec.ard.join("cluster");
    std::fs::create_dir_all(&cluster).map_err(io_err(&cluster))?;
    let k = (1..).find(|k| !cluster.join(format!("plan-{k}")).exists()).unwrap_or(1);
    let dir = cluster.join(format!("plan-{k}"));
    let logs = cluster.join("logs");
    for d in [&dir, &logs] {
        std::fs::create_dir_all(d).map_err(io_err(d))?;
    }
    let mut jobs = Vec::new();
    let steps: [(Step, Option<String>, Option<Vec<usize>>); 5] = [
        (Step::Models, need.models.clone(), None),
        (Step::Ingest, need.shards.as_ref().map(|s| s.1.clone()), need.shards.as_ref().map(|s| s.0.clone())),
        (Step::Finalize, need.finalize.clone(), None),
        (Step::Topology, need.subvolumes.as_ref().map(|s| s.1.clone()), need.subvolumes.as_ref().map(|s| s.0.clone())),
        (Step::Merge, need.merge.clone(), None),
    ];
    for (n, (step, reason, array)) in steps.into_iter().enumerate() {
        let Some(reason) = reason else { continue };
        let path = dir.join(format!("{}-{}.sbatch", n + 1, step.name()));
        let text = script(step, spec, res, &logs, array.as_deref());
        std::fs::write(&path, text).map_err(io_err(&path))?;
        jobs.push(PlannedJob { step, array, script: path, reason });
    }
    let plan = Plan {
        raw_root: spec.raw_root.clone(),
        ard: spec.ard.clone(),
        dir: dir.clone(),
        shards: spec.shards,
        subvolumes: spec.topology.subvolumes,
        buffer_mpc: spec.topology.buffer_mpc,
        n_sigma: spec.topology.web.skeleton.n_sigma,
        trim_below: spec.topology.web.skeleton.trim_below,
        assignment: need.assignment,
        targets: need.targets,
        pending_pixels: need.pending,
        jobs,
    };
    let submit = dir.join("submit.sh");
    std::fs::write(&submit, submit_script(&plan)).map_err(io_err(&submit))?;
    let json = serde_json::to_vec_pretty(&plan).map_err(|source| ClusterError::Plan { path: dir.join("plan.json"), source })?;
    ard_store::atomic::write_atomic(&dir.join("plan.json"), &json)?;
    ard_store::atomic::write_atomic(&Plan::latest_path(&spec.ard), &json)?;
    Ok(plan)
}

fn submit_script(plan: &Plan) -> String {
    let mut s = String::from(
        "#!/bin/bash\n# Submits this plan's jobs, each after the one before succeeds (what `desi-ard cluster plan --submit` does).\nset -euo pipefail\nSBATCH=${SBATCH:-sbatch}\ndep=()\n",
    );
    for j in &plan.jobs {
        let _ = writeln!(
            s,
            "id=$(\"$SBATCH\" --parsable \"${{dep[@]}}\" {} | cut -d';' -f1)\necho \"{} $id\"\ndep=(--dependency=afterok:$id --kill-on-invalid-dep=yes)",
            sh_path(&j.script),
            j.step.name()
        );
    }
    s
}

/// A submitted job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    /// Which step.
    pub step: Step,
    /// Slurm job id (of the whole array for array jobs).
    pub job_id: String,
}

/// Submits a plan's jobs with `sbatch` (the program named by `sbatch`, normally
/// `"sbatch"`), each `--dependency=afterok` on the one before with
/// `--kill-on-invalid-dep=yes`, and records the job ids in the plan's folder.
pub fn submit(plan: &Plan, sbatch: &str) -> Result<Vec<Submitted>, ClusterError> {
    let mut out: Vec<Submitted> = Vec::new();
    for j in &plan.jobs {
        let mut cmd = Command::new(sbatch);
        cmd.arg("--parsable");
        if let Some(prev) = out.last() {
            cmd.arg(format!("--dependency=afterok:{}", prev.job_id)).arg("--kill-on-invalid-dep=yes");
        }
        cmd.arg(&j.script);
        let o = cmd.output().map_err(|source| ClusterError::Spawn { program: sbatch.to_string(), source })?;
        let text = String::from_utf8_lossy(&o.stdout);
        let id = text.trim().split(';').next().unwrap_or("").to_string();
        if !o.status.success() || id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(ClusterError::Submit {
                script: j.script.clone(),
                message: format!(
                    "{} (stdout {:?}); jobs already submitted: {}",
                    String::from_utf8_lossy(&o.stderr).trim(),
                    text.trim(),
                    out.iter().map(|s| format!("{} {}", s.step.name(), s.job_id)).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        out.push(Submitted { step: j.step, job_id: id });
    }
    let path = plan.dir.join("submitted.json");
    let json = serde_json::to_vec_pretty(&out).map_err(|source| ClusterError::Plan { path: path.clone(), source })?;
    ard_store::atomic::write_atomic(&path, &json)?;
    Ok(out)
}

/// Progress of one shard.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ShardStatus {
    /// Pixels of the shard.
    pub pixels: usize,
    /// Targets of the shard.
    pub targets: usize,
    /// Pixels with a `done` record.
    pub done: usize,
    /// Pixels with a `failed` record.
    pub failed: usize,
}

/// Where an ARD stands against its newest plan, read from the manifest and the ARD's files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterStatus {
    /// Pixels of the input.
    pub pixels: usize,
    /// Done pixels (manifest record `done`).
    pub done: usize,
    /// Failed pixels and their errors.
    pub failed: Vec<(u64, String)>,
    /// Pixels written without some inputs (counted in `done`): each broken file and why.
    pub partial: Vec<(u64, Vec<String>)>,
    /// Pixels with no record yet.
    pub pending: Vec<u64>,
    /// Per shard.
    pub shards: Vec<ShardStatus>,
    /// Whether the PCA basis is in ARD/models/.
    pub models: bool,
    /// Whether the HATS metadata lists exactly the done pixels.
    pub finalized: bool,
    /// Per topology sub-volume.
    pub subvolumes: Vec<SubvolumeState>,
    /// Whether the topology columns come from a merge over the current catalogue.
    pub merged: bool,
}

impl ClusterStatus {
    /// Whether every step is complete.
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.partial.is_empty() && self.pending.is_empty() && self.models && self.finalized && self.merged
    }
}

/// Reads an ARD's progress against its newest plan (`ARD/cluster/plan.json`), from the
/// manifest and the files (not from Slurm, whose records expire and do not know which
/// pixels a killed task had already committed).
pub fn status(ard: &Path) -> Result<ClusterStatus, ClusterError> {
    let plan = Plan::read_latest(ard)?;
    let layout = ArdLayout::new(ard);
    let records: BTreeMap<u64, PixelRecord> = PixelRecord::all(&layout)?.into_iter().map(|r| (r.pixel, r)).collect();
    let mut shards = vec![ShardStatus::default(); plan.shards];
    let mut st = ClusterStatus {
        pixels: plan.assignment.len(),
        done: 0,
        failed: Vec::new(),
        partial: Vec::new(),
        pending: Vec::new(),
        shards: Vec::new(),
        models: layout.models().join(ard_ingest::models::MODEL_FILE).exists(),
        finalized: false,
        subvolumes: Vec::new(),
        merged: false,
    };
    for (&p, &k) in &plan.assignment {
        let sh = &mut shards[k.min(plan.shards - 1)];
        sh.pixels += 1;
        sh.targets += plan.targets.get(&p).copied().unwrap_or(0);
        match records.get(&p) {
            Some(r) if r.status.published() => {
                st.done += 1;
                sh.done += 1;
                if r.status == PixelStatus::Partial {
                    st.partial.push((p, r.broken.iter().map(ard_ingest::broken_text).collect()));
                }
            }
            Some(r) => {
                st.failed.push((p, r.error.clone().unwrap_or_default()));
                sh.failed += 1;
            }
            None => st.pending.push(p),
        }
    }
    st.shards = shards;
    let done: BTreeSet<u64> = records.values().filter(|r| r.status.published()).map(|r| r.pixel).collect();
    st.finalized = !done.is_empty() && finalized_pixels(ard).as_ref() == Some(&done);
    let topo = plan.topology_options();
    st.subvolumes = ard_ingest::topology::subvolume_states(ard, &topo)?;
    st.merged = !done.is_empty() && topology_current(ard, &topo)?;
    Ok(st)
}

/// The status as the text `desi-ard cluster status` prints.
pub fn status_text(st: &ClusterStatus) -> String {
    let mut s = String::new();
    let yes = |b: bool| if b { "done" } else { "not done" };
    let _ = writeln!(s, "models:    {}", yes(st.models));
    let _ = writeln!(s, "ingest:    {} of {} pixels done, {} failed, {} pending", st.done, st.pixels, st.failed.len(), st.pending.len());
    for (k, sh) in st.shards.iter().enumerate() {
        if sh.done < sh.pixels {
            let _ = writeln!(s, "  shard {k}: {}/{} pixels done ({} targets), {} failed", sh.done, sh.pixels, sh.targets, sh.failed);
        }
    }
    for (p, e) in st.failed.iter().take(20) {
        let _ = writeln!(s, "  FAILED pixel {p}: {e}");
    }
    for (p, broken) in st.partial.iter().take(20) {
        for b in broken {
            let _ = writeln!(s, "  PARTIAL pixel {p}: left out {b}");
        }
    }
    let _ = writeln!(s, "finalize:  {}", yes(st.finalized));
    let n = |want: SubvolumeState| st.subvolumes.iter().filter(|x| **x == want).count();
    let _ = writeln!(
        s,
        "topology:  {} of {} sub-volumes current, {} stale, {} missing",
        n(SubvolumeState::Current),
        st.subvolumes.len(),
        n(SubvolumeState::Stale),
        n(SubvolumeState::Missing)
    );
    let _ = writeln!(s, "merge:     {}", yes(st.merged));
    let _ = write!(
        s,
        "{}",
        if st.complete() { "complete\n" } else { "incomplete: `desi-ard cluster plan ... --resume --submit` schedules what is missing\n" }
    );
    s
}

/// The plan as printed by `desi-ard cluster plan`.
pub fn plan_text(plan: &Plan) -> String {
    let mut s = String::new();
    if plan.jobs.is_empty() {
        s.push_str("nothing to do: every pixel is current, the catalogue finalized and the topology merged\n");
        return s;
    }
    let _ = writeln!(
        s,
        "{} pixels ({} pending) in {} shards, {} topology sub-volumes; scripts in {}",
        plan.assignment.len(),
        plan.pending_pixels.len(),
        plan.shards,
        plan.subvolumes,
        plan.dir.display()
    );
    for (n, j) in plan.jobs.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {}. {:<8} {:<16} {}  ({})",
            n + 1,
            j.step.name(),
            j.array.as_ref().map(|a| format!("array {}", array_spec(a))).unwrap_or_else(|| "one task".into()),
            j.script.display(),
            j.reason
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_specs_compress_runs() {
        assert_eq!(array_spec(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_spec(&[1, 5, 6, 9]), "1,5-6,9");
        assert_eq!(array_spec(&[4]), "4");
        assert_eq!(array_spec(&[]), "");
    }

    fn spec(gpu: bool) -> (ChainSpec, SlurmResources) {
        let mut topology = TopologyOptions { subvolumes: 6, buffer_mpc: 35.5, ..Default::default() };
        topology.web.skeleton.n_sigma = 2.0;
        let spec = ChainSpec {
            raw_root: "/shared/desi/iron".into(),
            ard: "/shared/ard dr1".into(),
            binary: "/shared/bin/desi-ard".into(),
            shards: 8,
            ingest_args: vec!["--astroclip".into(), "/shared/w/astroclip.ckpt".into()],
            ingest_uses_gpu: gpu,
            scratch: Some("/local/scratch".into()),
            zcatalog: Some("/shared/desi/iron/zcatalog/v1/zall-pix-iron.fits".into()),
            no_zcatalog: false,
            vac: vec!["/shared/desi/vac/fastspec-iron-main-dark.fits".into()],
            topology,
            ingest_config: None,
        };
        let res = SlurmResources {
            nodes: 4,
            gpus_per_node: 1,
            partition: Some("gpu".into()),
            account: None,
            time: "12:00:00".into(),
            cpus_per_task: 16,
            mem: "64G".into(),
        };
        (spec, res)
    }

    #[test]
    fn scripts_carry_the_resources_and_the_same_settings_as_one_process() {
        let (spec, res) = spec(true);
        let logs = Path::new("/shared/ard dr1/cluster/logs");
        let ingest = script(Step::Ingest, &spec, &res, logs, Some(&[1, 3, 4]));
        for want in [
            "#SBATCH --array=1,3-4\n",
            "#SBATCH --cpus-per-task=16\n",
            "#SBATCH --mem=64G\n",
            "#SBATCH --gres=gpu:1\n",
            "#SBATCH --partition=gpu\n",
            "#SBATCH --time=12:00:00\n",
            "export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"",
            "/shared/bin/desi-ard ingest /shared/desi/iron '/shared/ard dr1' --shard \"${SLURM_ARRAY_TASK_ID}/8\" --balance --workers \"${SLURM_CPUS_PER_TASK:-0}\" --quiet --scratch /local/scratch --astroclip /shared/w/astroclip.ckpt --zcatalog /shared/desi/iron/zcatalog/v1/zall-pix-iron.fits --vac /shared/desi/vac/fastspec-iron-main-dark.fits || rc=$?\n",
            "if [ \"$rc\" = 3 ]; then",
        ] {
            assert!(ingest.contains(want), "missing {want:?} in\n{ingest}");
        }
        assert!(!ingest.contains("--account"));
        // Only ingest runs the GPU stage; single jobs take a node's memory.
        let models = script(Step::Models, &spec, &res, logs, None);
        assert!(
            models.contains("--fit-models-only")
                && models.contains("--zcatalog /shared/desi/iron/zcatalog/v1/zall-pix-iron.fits")
                && models.contains("#SBATCH --mem=0\n")
                && !models.contains("gres"),
            "{models}"
        );
        let topo = script(Step::Topology, &spec, &res, logs, Some(&[0, 1, 2, 3, 4, 5]));
        assert!(
            topo.contains(
                "topology '/shared/ard dr1' --subvolumes 6 --buffer 35.5 --nsig 2 --trim 0.7 --subvolume \"${SLURM_ARRAY_TASK_ID}\""
            ),
            "{topo}"
        );
        assert!(!topo.contains("gres"), "{topo}");
        let merge = script(Step::Merge, &spec, &res, logs, None);
        assert!(merge.contains("--subvolumes 6 --buffer 35.5 --nsig 2 --trim 0.7 --merge"), "{merge}");
        // Without a GPU stage no task asks for a GPU.
        let (spec, res) = self::spec(false);
        assert!(!script(Step::Ingest, &spec, &res, logs, Some(&[0])).contains("gres"));
    }

    #[test]
    fn submission_chains_afterok_and_submit_sh_does_the_same() {
        let d = tempfile::tempdir().expect("tempdir");
        let fake = d.path().join("fake-sbatch");
        let log = d.path().join("calls");
        let counter = d.path().join("n");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/bash\nn=$(( $(cat {c} 2>/dev/null || echo 40) + 1 )); echo $n > {c}\necho \"$*\" >> {l}\necho \"$n;cluster\"\n",
                c = counter.display(),
                l = log.display()
            ),
        )
        .expect("write");
        std::process::Command::new("chmod").arg("+x").arg(&fake).status().expect("chmod");
        let job =
            |step: Step| PlannedJob { step, array: None, script: d.path().join(format!("{}.sbatch", step.name())), reason: String::new() };
        let plan = Plan {
            raw_root: "/raw".into(),
            ard: d.path().to_path_buf(),
            dir: d.path().to_path_buf(),
            shards: 2,
            subvolumes: 2,
            buffer_mpc: 40.0,
            n_sigma: 1.5,
            trim_below: 0.7,
            assignment: BTreeMap::new(),
            targets: BTreeMap::new(),
            pending_pixels: vec![],
            jobs: vec![job(Step::Ingest), job(Step::Finalize), job(Step::Merge)],
        };
        let done = submit(&plan, fake.to_str().expect("utf-8")).expect("submit");
        assert_eq!(done.iter().map(|s| s.job_id.as_str()).collect::<Vec<_>>(), ["41", "42", "43"]);
        let calls = std::fs::read_to_string(&log).expect("log");
        let dir = d.path().display();
        assert_eq!(
            calls,
            format!(
                "--parsable {dir}/ingest.sbatch\n--parsable --dependency=afterok:41 --kill-on-invalid-dep=yes {dir}/finalize.sbatch\n\
                 --parsable --dependency=afterok:42 --kill-on-invalid-dep=yes {dir}/merge.sbatch\n"
            )
        );
        // submit.sh, by hand, makes the same calls.
        std::fs::write(&counter, "40").expect("reset");
        std::fs::remove_file(&log).expect("rm");
        let script = d.path().join("submit.sh");
        std::fs::write(&script, submit_script(&plan)).expect("write");
        let o = std::process::Command::new("bash").arg(&script).env("SBATCH", &fake).output().expect("bash");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read_to_string(&log).expect("log"), calls);
        // A refusal names the script and what was already submitted.
        std::fs::write(&fake, "#!/bin/bash\necho 'sbatch: error: invalid partition' >&2\nexit 1\n").expect("write");
        let e = submit(&plan, fake.to_str().expect("utf-8")).expect_err("refused").to_string();
        assert!(e.contains("ingest.sbatch") && e.contains("invalid partition"), "{e}");
    }

    #[test]
    fn shell_words_are_quoted() {
        assert_eq!(sh("/data/desi/iron"), "/data/desi/iron");
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh(""), "''");
    }
}
