//! `ard-ingest` owns turning a DESI tree into an ARD: it discovers the inputs, groups
//! them into nside-64 pixels (a tile-based coadd contributes to every pixel its
//! targets fall in), takes this machine's share (`--shard k/N`, by a stable hash of the
//! pixel or, with `--balance`, a largest-first split by target count recorded in the
//! manifest), skips pixels whose inputs, code and configuration are unchanged, and for
//! every other pixel reads the coadds, runs the stages, and commits the catalogue leaf,
//! exposures leaf and spectra file atomically, the manifest record last. A failed pixel
//! or object is recorded and the rest go on. [`finalize`] then rebuilds the HATS
//! metadata and the margin cache from the pixels the manifest says are done.
#![deny(missing_docs)]

pub mod columns;
pub mod joins;
pub mod memory;
pub mod models;
pub mod pipeline;
pub mod topology;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ard_core::StageRef;
use ard_store::atomic::{remove_stale_temporaries, remove_temporaries_of, Staging};
use ard_store::hats::{build_margin, finalize_table, write_collection_properties, TableInfo, TableKind};
use ard_store::layout::{list_pixel_files, ArdLayout, CATALOG_NAME, MARGIN_ARCSEC, MARGIN_NAME};
use ard_store::manifest::{input_record, input_unchanged, BrokenInput, ObjectNote, PixelRecord, PixelStatus};
use ard_store::pixel::{commit_pixel as commit_version, remove_unreferenced_versions, withdraw_pixel, PixelContent};
use ard_store::spectra::{SpectraSpill, SpectrumKey};
use ard_store::StoreError;
use arrow_array::RecordBatch;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

/// Errors of ingest.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Reading DESI files failed.
    #[error(transparent)]
    Desi(#[from] desi_io::DesiIoError),
    /// Writing the ARD failed.
    #[error(transparent)]
    Store(#[from] ard_store::StoreError),
    /// A stage failed on a whole batch.
    #[error(transparent)]
    Stage(#[from] ard_core::StageError),
    /// A DESI table lacks a column ingest cannot do without.
    #[error("{table} of {survey}/{program} has no column {column}")]
    MissingColumn {
        /// The HDU (FIBERMAP, EXP_FIBERMAP, …).
        table: &'static str,
        /// The column.
        column: &'static str,
        /// Survey of the coadd.
        survey: String,
        /// Program of the coadd.
        program: String,
    },
    /// An EXP_FIBERMAP row names a target its coadd's FIBERMAP does not hold.
    #[error("EXP_FIBERMAP of {survey}/{program}: TARGETID {targetid} is not in the FIBERMAP")]
    UnknownExposureTarget {
        /// The TARGETID.
        targetid: i64,
        /// Survey of the coadd.
        survey: String,
        /// Program of the coadd.
        program: String,
    },
    /// A file this project wrote holds a value it never writes.
    #[error("{}: row {row}: {column} = {value} is not a valid value", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The row.
        row: usize,
        /// The column.
        column: &'static str,
        /// What was found.
        value: String,
    },
    /// The settings file cannot be used.
    #[error("settings {}: {message}", path.display())]
    Settings {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The settings file is not valid TOML for `[ingest]`.
    #[error("settings {}", path.display())]
    SettingsSyntax {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: toml::de::Error,
    },
    /// Model weights could not be loaded.
    #[error("{}: {source}", path.display())]
    Model {
        /// The weights file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<ard_ai::AiError>,
    },
    /// The stellar-population templates could not be loaded.
    #[error(transparent)]
    Templates(#[from] ssp::SspError),
    /// The raw directory holds no coadds.
    #[error("{}: no coadd-*.fits or coadd-*.fits.gz files found", root.display())]
    NoCoadds {
        /// The directory searched.
        root: PathBuf,
    },
    /// A thread panicked while reading a table shared by the run's pixels (a zcatalog, a VAC).
    #[error("{}: a thread reading this table panicked", path.display())]
    SharedTablePoisoned {
        /// The table.
        path: PathBuf,
    },
    /// `--vac` names a file that is not a fastspecfit VAC (no METADATA and FASTSPEC HDUs).
    #[error("{}: not a fastspecfit VAC (--vac wants fastspec-*.fits, with HDUs METADATA, SPECPHOT, FASTSPEC)", path.display())]
    NotAVac {
        /// The file.
        path: PathBuf,
    },
    /// `finalize` found no pixel to publish.
    #[error("{}: no successfully ingested pixels to finalize", ard.display())]
    NothingToFinalize {
        /// The ARD.
        ard: PathBuf,
    },
    /// The published zcatalog folder holds several `zall-pix-*` files: which to use is
    /// the user's choice (`--zcatalog FILE`).
    #[error("{}: several zall-pix files ({}); choose one with --zcatalog FILE", dir.display(), found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    AmbiguousZcatalog {
        /// The folder.
        dir: PathBuf,
        /// The files found.
        found: Vec<PathBuf>,
    },
    /// `--subvolumes 0`.
    #[error("--subvolumes must be at least 1")]
    NoSubvolumes,
    /// `--subvolume` past the last sub-volume.
    #[error("--subvolume {index} is out of range: there are {count} (0-based)")]
    SubvolumeOutOfRange {
        /// The index given.
        index: usize,
        /// The sub-volumes.
        count: usize,
    },
    /// A sub-volume's result was asked for before it was computed.
    #[error("{}: sub-volume {index} of {count} has no result; run `desi-ard topology {} --subvolumes {count} --subvolume {index}` first", path.display(), ard.display())]
    NoSubvolumeResult {
        /// The result file expected.
        path: PathBuf,
        /// The ARD.
        ard: PathBuf,
        /// The sub-volume.
        index: usize,
        /// The sub-volumes.
        count: usize,
    },
    /// The topology merge found sub-volumes missing or stale.
    #[error("{}: cannot merge: {}; run `desi-ard topology {} --subvolumes {count} --subvolume i` for each", ard.display(), reasons.join("; "), ard.display())]
    MergeNotReady {
        /// The ARD.
        ard: PathBuf,
        /// The sub-volumes.
        count: usize,
        /// One line per sub-volume not ready.
        reasons: Vec<String>,
    },
    /// Too few galaxies define the density field.
    #[error("{}: {found} galaxies in the density-defining population (primary GALAXY coadds with ZWARN = 0); the topology needs at least {needed}", ard.display())]
    TooFewGalaxies {
        /// The ARD.
        ard: PathBuf,
        /// Galaxies found.
        found: usize,
        /// The minimum.
        needed: usize,
    },
    /// Every input of a pixel failed (each reason, one per input).
    #[error("every input failed: {}", reasons.join(" | "))]
    InputsFailed {
        /// Each input's error and causes.
        reasons: Vec<String>,
    },
    /// The worker threads could not be started.
    #[error("starting the worker threads")]
    Threads(#[from] rayon::ThreadPoolBuildError),
    /// A sub-volume's tessellation failed.
    #[error("topology sub-volume {subvolume}")]
    Tessellation {
        /// The sub-volume.
        subvolume: usize,
        /// Why.
        #[source]
        source: ard_topology::DelaunayError,
    },
}

impl IngestError {
    /// The HDU the error is about, when it names one (for the manifest's record of a
    /// broken input).
    pub fn hdu(&self) -> Option<&str> {
        match self {
            IngestError::Desi(e) => e.hdu(),
            IngestError::MissingColumn { table, .. } => Some(table),
            IngestError::UnknownExposureTarget { .. } => Some("EXP_FIBERMAP"),
            _ => None,
        }
    }
}

/// A share of the pixels: shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0 ≤ index < count.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s.split_once('/').ok_or_else(|| format!("--shard wants k/N (e.g. 0/4), got {s:?}"))?;
        let index: usize = k.trim().parse().map_err(|_| format!("--shard: {k:?} is not a number"))?;
        let count: usize = n.trim().parse().map_err(|_| format!("--shard: {n:?} is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("--shard {s}: need 0 ≤ k < N"));
        }
        Ok(Shard { index, count })
    }
}

/// What ingest does.
#[derive(Clone)]
pub struct IngestOptions {
    /// DESI tree, folder of coadds, or one coadd.
    pub raw_root: PathBuf,
    /// The ARD folder.
    pub ard: PathBuf,
    /// Parallel pixels (0 = all cores).
    pub workers: usize,
    /// This machine's share.
    pub shard: Option<Shard>,
    /// Largest-first split by target count instead of hashing.
    pub balance: bool,
    /// Survey for coadds that do not say.
    pub survey: Option<String>,
    /// Program for coadds that do not say.
    pub program: Option<String>,
    /// The per-object layers to run.
    pub stages: Vec<StageRef>,
    /// No progress bar.
    pub quiet: bool,
    /// Node-local folder to build each pixel's files in before they are copied into the
    /// ARD (on a cluster whose ARD is on a shared file system); `None` builds in place.
    pub scratch: Option<PathBuf>,
    /// Redo `partial` pixels even when none of their files changed (`--retry-failed`).
    pub retry_failed: bool,
    /// A zcatalog (`zpix-*`, `zall-pix-*`, `ztile-*`, v1 or v2) to take every redshift
    /// from, in place of the redrock files (`--zcatalog`).
    pub zcatalog: Option<PathBuf>,
    /// Use the redrock files even where DR1 publishes a zcatalog beside the tree
    /// (`--no-zcatalog`; see [`choose_redshifts`]).
    pub no_zcatalog: bool,
    /// fastspecfit VACs joined onto the rows (`--vac`; see [`joins`]).
    pub vac: Vec<PathBuf>,
    /// Spectra per chunk ([`DEFAULT_CHUNK_ROWS`]); any value gives the same bytes.
    pub chunk_rows: usize,
    /// Memory the run may use, bytes (`--memory-limit`); `None`: what the machine and
    /// its cgroup allow ([`memory::available_memory`]). Bounds the pixels in progress.
    pub memory_limit: Option<u64>,
}

impl IngestOptions {
    /// Options for ingesting `raw_root` into `ard` on all cores, no stages yet (see
    /// [`pipeline::Settings::stages`]), quietly, in one process.
    pub fn new(raw_root: PathBuf, ard: PathBuf) -> Self {
        IngestOptions {
            raw_root,
            ard,
            workers: 0,
            shard: None,
            balance: false,
            survey: None,
            program: None,
            stages: Vec::new(),
            quiet: true,
            scratch: None,
            retry_failed: false,
            zcatalog: None,
            no_zcatalog: false,
            vac: Vec::new(),
            chunk_rows: DEFAULT_CHUNK_ROWS,
            memory_limit: None,
        }
    }
}

/// One input coadd and the rows of it that belong to a pixel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PixelInput {
    /// Coadd file.
    pub coadd: PathBuf,
    /// Redrock partner.
    pub redrock: Option<PathBuf>,
    /// Whether the coadd is a healpix coadd of exactly this pixel (else rows are
    /// selected by TARGET_RA/DEC).
    pub whole_file: bool,
    /// Number of targets of this pixel in the file.
    pub n_targets: usize,
    /// Files joined onto its rows: the afterburners beside the coadd and the VACs
    /// (see [`joins`]).
    #[serde(default)]
    pub joins: Vec<PathBuf>,
}

/// The inputs of every pixel found.
pub type PixelPlan = BTreeMap<u64, Vec<PixelInput>>;

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    /// Pixels found.
    pub pixels_found: usize,
    /// Pixels in this shard.
    pub pixels_in_shard: usize,
    /// Pixels processed now.
    pub pixels_done: usize,
    /// Pixels skipped as unchanged.
    pub pixels_skipped: usize,
    /// Failed pixels with the error.
    pub failed: Vec<(u64, String)>,
    /// Pixels written without some of their inputs (this run's and unchanged ones).
    pub partial: Vec<(u64, Vec<BrokenInput>)>,
    /// Input files that could not be placed in any pixel (unreadable tile-based coadds).
    pub unreadable: Vec<(PathBuf, String)>,
    /// Pixels processed at once ([`memory::pixel_workers`]).
    pub pixel_workers: usize,
    /// Catalogue rows written now.
    pub rows: u64,
    /// Object notes.
    pub notes: Vec<ObjectNote>,
    /// Wall time, s.
    pub seconds: f64,
}

/// The thread pool of a run (`workers` threads, all cores for 0) and how many pixels it
/// works on at once: as many as the threads, fewer when memory says so (logged).
pub(crate) fn pool_and_workers(opts: &IngestOptions) -> Result<(rayon::ThreadPool, usize), IngestError> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.workers).build()?;
    let threads = pool.current_num_threads();
    let workers = memory::pixel_workers(threads, opts.memory_limit);
    if workers < threads {
        let gb = |b: u64| b as f64 / (1u64 << 30) as f64;
        let limit = opts.memory_limit.or_else(memory::available_memory).unwrap_or(0);
        tracing::info!(
            "{workers} pixel(s) at a time on {threads} threads: {:.1} GB of memory allows {workers} of {:.1} GB each",
            gb(limit),
            gb(memory::PIXEL_WORKER_BYTES)
        );
    }
    Ok((pool, workers))
}

/// Discovers the inputs and groups them by pixel. An unreadable healpix coadd still
/// enters the plan under the pixel its name gives (that pixel then fails with the
/// reason); see [`plan_with_problems`] for files that name no pixel.
pub fn plan(raw_root: &Path) -> Result<PixelPlan, IngestError> {
    Ok(plan_with_problems(raw_root)?.0)
}

/// [`plan`], and the files that could not be placed in any pixel with why (an
/// unreadable tile-based coadd): they are reported, and every other file goes on.
pub fn plan_with_problems(raw_root: &Path) -> Result<(PixelPlan, Vec<(PathBuf, String)>), IngestError> {
    let found = desi_io::layout::discover_with_problems(raw_root)?;
    let (inputs, mut problems) = (found.inputs, found.problems);
    if inputs.is_empty() {
        return Err(IngestError::NoCoadds { root: raw_root.to_path_buf() });
    }
    let mut plan: PixelPlan = BTreeMap::new();
    for inp in inputs {
        match plan_input(&inp) {
            Ok(parts) => {
                for (p, input) in parts {
                    plan.entry(p).or_default().push(input);
                }
            }
            Err(e) => match inp.name.as_ref().map(|n| n.pixel) {
                // The pixel is known from the name: it fails when processed, with this file named.
                Some(p) => plan.entry(p as u64).or_default().push(PixelInput {
                    coadd: inp.coadd,
                    redrock: inp.redrock,
                    whole_file: true,
                    n_targets: 0,
                    joins: Vec::new(),
                }),
                None => problems.push((inp.coadd, e.to_string())),
            },
        }
    }
    Ok((plan, problems))
}

/// The folder DR1 publishes its redshift catalogues in, beside a healpix tree:
/// `ROOT/zcatalog/v1/`, where ROOT is the raw root or, when the raw root is the
/// `healpix/` folder itself, its parent.
pub fn published_zcatalog_dir(raw_root: &Path) -> Option<PathBuf> {
    let mut roots = vec![raw_root.to_path_buf()];
    if raw_root.file_name().is_some_and(|n| n == "healpix") {
        roots.extend(raw_root.parent().map(Path::to_path_buf));
    }
    roots.into_iter().map(|r| r.join("zcatalog").join("v1")).find(|d| d.is_dir())
}

/// Points every input of the plan at the run's redshift source, in this order:
/// `zcatalog` (`--zcatalog FILE`); else, unless `no_zcatalog`, what DR1 publishes in
/// [`published_zcatalog_dir`] — its one `zall-pix-*.fits` for every input, or failing
/// that each input's `zpix-SURVEY-PROGRAM.fits` where it exists; else the redrock file
/// beside each coadd. Returns the zcatalogs used. The catalogue's `z_source` column says
/// per row which file and column a redshift came from.
///
/// # Errors
/// [`IngestError::AmbiguousZcatalog`] when the folder holds several `zall-pix-*.fits`.
pub fn choose_redshifts(
    plan: &mut PixelPlan,
    raw_root: &Path,
    zcatalog: Option<&Path>,
    no_zcatalog: bool,
) -> Result<Vec<PathBuf>, IngestError> {
    if let Some(z) = zcatalog {
        use_zcatalog(plan, z);
        return Ok(vec![z.to_path_buf()]);
    }
    let Some(dir) = published_zcatalog_dir(raw_root).filter(|_| !no_zcatalog) else { return Ok(Vec::new()) };
    let listing = std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
    let mut zall: Vec<PathBuf> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("zall-pix-") && n.ends_with(".fits")))
        // A v2 catalogue's companions are read with their base file, not on their own.
        .filter(|p| !desi_io::is_v2_companion(p))
        .collect();
    zall.sort();
    match zall.len() {
        0 => {}
        1 => {
            use_zcatalog(plan, &zall[0]);
            return Ok(zall);
        }
        _ => return Err(IngestError::AmbiguousZcatalog { dir, found: zall }),
    }
    let mut used = BTreeSet::new();
    for inp in plan.values_mut().flatten() {
        let Some(name) = desi_io::layout::parse_coadd_name(&inp.coadd) else { continue };
        let zpix = dir.join(format!("zpix-{}-{}.fits", name.survey, name.program));
        if zpix.is_file() {
            inp.redrock = Some(zpix.clone());
            used.insert(zpix);
        }
    }
    Ok(used.into_iter().collect())
}

/// Makes `zcatalog` (`ingest --zcatalog`) the redshift source of every input of the plan,
/// in place of the redrock files: it takes precedence, and becomes an input of every pixel
/// (a change to it re-runs them).
pub fn use_zcatalog(plan: &mut PixelPlan, zcatalog: &Path) {
    for inputs in plan.values_mut() {
        for inp in inputs.iter_mut() {
            inp.redrock = Some(zcatalog.to_path_buf());
        }
    }
}

/// A zcatalog's rows for `pixel`, read once per process for every pixel of the run
/// (`run_pixels`; see [`joins::shared_rows`]): named columns in row chunks, keeping only
/// those pixels' rows ([`desi_io::read_zcatalog_for_pixels`]), so a 28 M-row `zall-pix`
/// costs its chunk and the rows kept.
fn shared_zcatalog(path: &Path, pixel: u64, run_pixels: &BTreeSet<u64>) -> Result<Arc<desi_io::RedshiftTable>, IngestError> {
    static TABLES: joins::RowsCache<desi_io::RedshiftTable> = std::sync::OnceLock::new();
    joins::shared_rows(&TABLES, path, pixel, run_pixels, |pixels| {
        let table = desi_io::read_zcatalog_for_pixels(path, Some(pixels))?;
        tracing::info!(
            "redshifts from {} ({} rows of {} pixels, column {})",
            path.display(),
            table.table.num_rows(),
            pixels.len(),
            table.z_column
        );
        Ok(table)
    })
}

/// The pixels one input contributes to.
fn plan_input(inp: &desi_io::layout::CoaddInput) -> Result<Vec<(u64, PixelInput)>, IngestError> {
    let mut f = ard_fits::FitsFile::open(&inp.coadd).map_err(desi_io::DesiIoError::from)?;
    f.move_to_primary().map_err(desi_io::DesiIoError::from)?;
    let hpx = f.read_key_i64("HPXPIXEL").map_err(desi_io::DesiIoError::from)?.or(inp.name.as_ref().map(|n| n.pixel));
    f.move_to("FIBERMAP").map_err(desi_io::DesiIoError::from)?;
    match hpx {
        // Healpix coadds: pixel from the header or name; rows from the header.
        Some(p) => {
            let n = f.read_key_i64("NAXIS2").map_err(desi_io::DesiIoError::from)?.unwrap_or(0) as usize;
            let joins = joins::afterburners_of(&inp.coadd);
            Ok(vec![(
                p as u64,
                PixelInput { coadd: inp.coadd.clone(), redrock: inp.redrock.clone(), whole_file: true, n_targets: n, joins },
            )])
        }
        None => {
            let fm = f.read_table().map_err(desi_io::DesiIoError::from)?;
            let ra = desi_io::columns::column_f64(&fm, "TARGET_RA", &inp.coadd, "FIBERMAP")?;
            let dec = desi_io::columns::column_f64(&fm, "TARGET_DEC", &inp.coadd, "FIBERMAP")?;
            let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
            for (r, d) in ra.iter().zip(&dec) {
                *counts.entry(desi_io::layout::nside64_pixel(*r, *d) as u64).or_default() += 1;
            }
            Ok(counts
                .into_iter()
                .map(|(p, n)| {
                    let (coadd, redrock) = (inp.coadd.clone(), inp.redrock.clone());
                    (p, PixelInput { coadd, redrock, whole_file: false, n_targets: n, joins: joins::afterburners_of(&inp.coadd) })
                })
                .collect())
        }
    }
}

pub(crate) fn stable_hash(pixel: u64) -> u64 {
    let mut z = pixel.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Assigns pixels to `count` shards largest-first by target count (ties by pixel
/// number): each pixel goes to the shard with the fewest targets so far (lowest
/// index on ties). Deterministic, so every machine computes the same split.
pub fn balanced_assignment(plan: &PixelPlan, count: usize) -> BTreeMap<u64, usize> {
    let mut sizes: Vec<(usize, u64)> = plan.iter().map(|(p, v)| (v.iter().map(|i| i.n_targets).sum(), *p)).collect();
    sizes.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut load = vec![0usize; count];
    let mut out = BTreeMap::new();
    for (n, p) in sizes {
        let k = (0..count).min_by_key(|&k| (load[k], k)).unwrap_or(0);
        load[k] += n;
        out.insert(p, k);
    }
    out
}

/// The pixels of `shard` (all when `None`).
pub fn pixels_of_shard(plan: &PixelPlan, shard: Option<Shard>, balance: bool, layout: &ArdLayout) -> Result<Vec<u64>, IngestError> {
    let Some(s) = shard else { return Ok(plan.keys().copied().collect()) };
    if balance {
        let assignment = balanced_assignment(plan, s.count);
        let path = layout.manifest_dir().join("shards.json");
        let record = serde_json::json!({ "count": s.count, "rule": "largest-first by target count", "assignment": assignment });
        ard_store::atomic::write_atomic(&path, serde_json::to_vec_pretty(&record).unwrap_or_default().as_slice())?;
        Ok(assignment.into_iter().filter(|(_, k)| *k == s.index).map(|(p, _)| p).collect())
    } else {
        Ok(plan.keys().copied().filter(|p| (stable_hash(*p) % s.count as u64) as usize == s.index).collect())
    }
}

/// Fingerprint of the stages' code versions and settings (each stage's `version()`
/// carries its [`pipeline::LAYERS`] version): a change re-processes every pixel.
pub fn config_fingerprint(stages: &[StageRef]) -> String {
    let mut h = Sha256::new();
    h.update(format!("core-columns v{}", columns::VERSION));
    for s in stages {
        h.update(format!("|{}={}", s.name(), s.version()));
    }
    format!("{:x}", h.finalize())[..16].to_string()
}

struct PixelOutput {
    catalog: RecordBatch,
    exposures: Option<RecordBatch>,
    spectra: SpectraSpill,
    notes: Vec<ObjectNote>,
    broken: Vec<BrokenInput>,
}

fn select_rows(read: &mut desi_io::ReadSpectra, pixel: u64) -> Result<(), IngestError> {
    let b = &read.batch;
    let ra = desi_io::columns::optional_f64(&b.fibermap, "TARGET_RA").unwrap_or_default();
    let dec = desi_io::columns::optional_f64(&b.fibermap, "TARGET_DEC").unwrap_or_default();
    let keep: Vec<usize> = (0..b.len()).filter(|&i| desi_io::layout::nside64_pixel(ra[i], dec[i]) as u64 == pixel).collect();
    let nw = b.nwave();
    let nd = b.ndiag;
    let idx = arrow_array::UInt32Array::from_iter_values(keep.iter().map(|&i| i as u32));
    let take = |rb: &RecordBatch| -> Result<RecordBatch, IngestError> {
        let cols = rb
            .columns()
            .iter()
            .map(|c| arrow_select::take::take(c, &idx, None))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::arrow(format!("rows of pixel {pixel}"), e))?;
        Ok(RecordBatch::try_new(rb.schema(), cols).map_err(|e| StoreError::arrow(format!("rows of pixel {pixel}"), e))?)
    };
    let mut nb = b.clone();
    nb.targetid = keep.iter().map(|&i| b.targetid[i]).collect();
    nb.flux = keep.iter().flat_map(|&i| b.flux_of(i).to_vec()).collect();
    nb.ivar = keep.iter().flat_map(|&i| b.ivar_of(i).to_vec()).collect();
    nb.mask = keep.iter().flat_map(|&i| b.mask_of(i).to_vec()).collect();
    nb.resolution = keep.iter().flat_map(|&i| b.resolution[i * nd * nw..(i + 1) * nd * nw].to_vec()).collect();
    nb.fibermap = take(&b.fibermap)?;
    nb.redshifts = b.redshifts.as_ref().map(take).transpose()?;
    nb.healpix = Some(pixel as i64);
    let ids: BTreeSet<i64> = nb.targetid.iter().copied().collect();
    if let Some(e) = &read.exp_fibermap {
        if let Some(eids) = desi_io::columns::optional_i64(e, "TARGETID") {
            let eidx =
                arrow_array::UInt32Array::from_iter_values(eids.iter().enumerate().filter(|(_, t)| ids.contains(t)).map(|(i, _)| i as u32));
            let cols = e
                .columns()
                .iter()
                .map(|c| arrow_select::take::take(c, &eidx, None))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::arrow(format!("exposures of pixel {pixel}"), e))?;
            read.exp_fibermap =
                Some(RecordBatch::try_new(e.schema(), cols).map_err(|e| StoreError::arrow(format!("exposures of pixel {pixel}"), e))?);
        }
    }
    read.batch = nb;
    Ok(())
}

/// Spectra read, merged and run through the stages at a time, unless the caller says
/// otherwise ([`IngestOptions::chunk_rows`]): a chunk's arrays take about 0.9 MB per
/// spectrum (flux, ivar, mask and 11 resolution diagonals on the b, r and z grids and
/// again on the merged brz grid), about 230 MB for 256.
pub const DEFAULT_CHUNK_ROWS: usize = 256;

/// Opens one input of a pixel for reading in chunks ([`read_chunk`]). `run_pixels` are
/// the pixels this run reads, whose zcatalog rows are read together.
pub(crate) fn open_input(
    pixel: u64,
    inp: &PixelInput,
    read_opts: &desi_io::ReadOptions,
    run_pixels: &BTreeSet<u64>,
) -> Result<desi_io::SpectraReader, IngestError> {
    Ok(match inp.redrock.as_deref() {
        // A zcatalog serves every coadd of the run: read once.
        Some(z) if desi_io::is_zcatalog_name(z) => {
            desi_io::SpectraReader::open_with_table(&inp.coadd, Some(shared_zcatalog(z, pixel, run_pixels)?), read_opts)?
        }
        other => desi_io::SpectraReader::open(&inp.coadd, other, read_opts)?,
    })
}

/// Rows `rows` of an open input that belong to the pixel: all of them for a healpix
/// coadd of the pixel, else those whose TARGET_RA/DEC fall in it.
pub(crate) fn read_chunk(
    reader: &mut desi_io::SpectraReader,
    pixel: u64,
    inp: &PixelInput,
    rows: std::ops::Range<usize>,
) -> Result<desi_io::ReadSpectra, IngestError> {
    let mut read = reader.read_rows(rows)?;
    if !inp.whole_file {
        select_rows(&mut read, pixel)?;
    }
    Ok(read)
}

/// `n` rows in chunks of at most `chunk_rows` (at least one chunk, empty for an empty
/// file, so that its columns are still made).
pub(crate) fn chunks(n: usize, chunk_rows: usize) -> Vec<std::ops::Range<usize>> {
    let step = chunk_rows.max(1);
    // `0..n.max(1)` gives the one empty chunk 0..0 of an empty file.
    (0..n.max(1)).step_by(step).map(|start| start..(start + step).min(n)).collect()
}

/// What one input (a coadd and its redrock file) gives a pixel, besides the spectra it
/// added to the pixel's spill.
struct InputPart {
    catalog: Vec<RecordBatch>,
    exposures: Vec<RecordBatch>,
    notes: Vec<ObjectNote>,
}

/// Reads one input of a pixel chunk by chunk and runs every stage on each chunk: the
/// unit of failure. Its spectra go to `spill` (the caller takes them back out when it fails).
fn ingest_input(
    pixel: u64,
    inp: &PixelInput,
    read_opts: &desi_io::ReadOptions,
    opts: &IngestOptions,
    run_pixels: &BTreeSet<u64>,
    spill: &mut SpectraSpill,
) -> Result<InputPart, IngestError> {
    let mut reader = open_input(pixel, inp, read_opts, run_pixels)?;
    let file = inp.coadd.to_string_lossy().into_owned();
    let mut part = InputPart { catalog: Vec::new(), exposures: Vec::new(), notes: Vec::new() };
    if !reader.has_redshifts() {
        let note =
            "no redshift file: no redrock file beside this coadd and no zcatalog row, so z is null and the layers say no_redshift_file";
        tracing::warn!("{file}: {note}");
        part.notes.push(ObjectNote { targetid: 0, file: file.clone(), note: note.into() });
    }
    let (joined, join_notes) = joins::tables_of(&inp.joins, pixel, run_pixels)?;
    part.notes.extend(join_notes.into_iter().map(|note| ObjectNote { targetid: 0, file: file.clone(), note }));
    for rows in chunks(reader.len(), opts.chunk_rows) {
        let read = read_chunk(&mut reader, pixel, inp, rows)?;
        part.notes.extend(read.issues.iter().map(|i| ObjectNote { targetid: i.targetid, file: file.clone(), note: i.problem.clone() }));
        let b = &read.batch;
        let mut core = columns::core_columns(b, read.scores.as_ref(), &joined)?;
        // The stages' grid arrays, each rows × nwave, in stage order.
        let mut arrays: Vec<Vec<f32>> = Vec::new();
        for stage in &opts.stages {
            let extra = stage.compute_with(b, &core)?;
            let (nw, want) = (b.wavelength.len(), stage.grid_arrays().len());
            if extra.arrays.len() != want || extra.arrays.iter().any(|a| a.len() != b.len() * nw) {
                return Err(StoreError::Layout {
                    path: inp.coadd.clone(),
                    message: format!(
                        "stage {} returned {} grid arrays, not {want} of {} × {nw} values",
                        stage.name(),
                        extra.arrays.len(),
                        b.len()
                    ),
                }
                .into());
            }
            arrays.extend(extra.arrays);
            for n in extra.notes {
                let targetid = b.targetid.get(n.row).copied().unwrap_or(-1);
                part.notes.push(ObjectNote { targetid, file: file.clone(), note: format!("{}: {}", stage.name(), n.note) });
            }
            let mut fields: Vec<_> = core.schema().fields().iter().cloned().collect();
            fields.extend(stage.columns().iter().map(|c| Arc::new(c.field())));
            let mut cols = core.columns().to_vec();
            cols.extend(extra.columns);
            core = RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), cols)
                .map_err(|e| StoreError::arrow(format!("the columns of stage {} (they must match its column specs)", stage.name()), e))?;
        }
        part.catalog.push(core);
        part.exposures.extend(read.exp_fibermap.as_ref().map(|e| columns::exposure_rows(b, e)).transpose()?);
        let z = b.redshifts.as_ref().and_then(|r| desi_io::columns::optional_f64(r, "Z")).unwrap_or_else(|| vec![f64::NAN; b.len()]);
        for (i, &zi) in z.iter().enumerate().take(b.len()) {
            let key = SpectrumKey { targetid: b.targetid[i], survey: b.survey.clone(), program: b.program.clone(), z: zi };
            let nw = b.wavelength.len();
            let rows: Vec<&[f32]> = arrays.iter().map(|a| &a[i * nw..(i + 1) * nw]).collect();
            spill.push(&b.wavelength, key, b.flux_of(i), b.ivar_of(i), b.mask_of(i), &rows)?;
        }
    }
    Ok(part)
}

/// A broken input as one line: the file (and HDU) and the reason.
pub fn broken_text(b: &BrokenInput) -> String {
    // Errors of the reader name their file already; others get it in front.
    if b.reason.contains(&b.coadd) || b.redrock.as_ref().is_some_and(|r| b.reason.contains(r)) {
        b.reason.clone()
    } else {
        let hdu = b.hdu.as_deref().map(|h| format!("[{h}]")).unwrap_or_default();
        format!("{}{hdu}: {}", b.coadd, b.reason)
    }
}

/// The record of an input that failed.
fn broken_input(inp: &PixelInput, e: &IngestError) -> BrokenInput {
    BrokenInput {
        coadd: inp.coadd.to_string_lossy().into_owned(),
        redrock: inp.redrock.as_ref().map(|p| p.to_string_lossy().into_owned()),
        hdu: e.hdu().map(str::to_string),
        reason: ard_core::error::chain(e),
    }
}

/// Ingests every input of a pixel, its spectra spilled to `spill_path`. An input that
/// fails is left out and listed in `broken` (the pixel is then `partial`); the pixel
/// fails only when every input does.
fn process_pixel(
    pixel: u64,
    inputs: &[PixelInput],
    opts: &IngestOptions,
    run_pixels: &BTreeSet<u64>,
    spill_path: &Path,
) -> Result<PixelOutput, IngestError> {
    let read_opts = desi_io::ReadOptions { survey: opts.survey.clone(), program: opts.program.clone() };
    let arrays: Vec<_> = opts.stages.iter().flat_map(|s| s.grid_arrays()).collect();
    let mut spectra = SpectraSpill::create(spill_path, &arrays)?;
    let mut catalogs = Vec::new();
    let mut exposures = Vec::new();
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    for inp in inputs {
        let before = spectra.len();
        match ingest_input(pixel, inp, &read_opts, opts, run_pixels, &mut spectra) {
            Ok(part) => {
                catalogs.extend(part.catalog);
                exposures.extend(part.exposures);
                notes.extend(part.notes);
            }
            Err(e) => {
                // A failed input leaves none of its spectra behind.
                spectra.truncate(before);
                errors.push((inp, e));
            }
        }
    }
    if catalogs.is_empty() {
        return Err(match errors.len() {
            1 => errors.remove(0).1,
            _ => IngestError::InputsFailed { reasons: errors.iter().map(|(_, e)| ard_core::error::chain(e)).collect() },
        });
    }
    let broken = errors.iter().map(|(inp, e)| broken_input(inp, e)).collect();
    let schema = catalogs[0].schema();
    let all = arrow_select::concat::concat_batches(&schema, &catalogs)
        .map_err(|e| StoreError::arrow(format!("catalogue rows of pixel {pixel}"), e))?;
    let all = columns::mark_primary(&all, &ArdLayout::new(&opts.ard).catalog_leaf(pixel))?;
    let catalog = ard_store::catalog::with_healpix29_sorted(&all, "target_ra", "target_dec", &["targetid", "survey", "program"])?;
    let exposures = if exposures.is_empty() {
        None
    } else {
        let s = exposures[0].schema();
        let e = arrow_select::concat::concat_batches(&s, &exposures)
            .map_err(|e| StoreError::arrow(format!("exposure rows of pixel {pixel}"), e))?;
        Some(ard_store::catalog::with_healpix29_sorted(&e, "target_ra", "target_dec", &["targetid", "survey", "program"])?)
    };
    Ok(PixelOutput { catalog, exposures, spectra, notes, broken })
}

/// Commits a pixel's new version (see [`ard_store::pixel`]: the leaf's rename is the
/// commit point) and its manifest record.
fn commit_pixel(
    layout: &ArdLayout,
    staging: &Staging,
    pixel: u64,
    inputs: &[PixelInput],
    out: PixelOutput,
    config: &str,
    stages: &[StageRef],
) -> Result<PixelRecord, IngestError> {
    let mut ins = Vec::new();
    let mut seen = BTreeSet::new();
    for i in inputs {
        for p in input_files(i) {
            if seen.insert(p.clone()) {
                ins.push(input_record(&p)?);
            }
        }
    }
    ins.sort_by(|a, b| a.path.cmp(&b.path));
    let mut record = PixelRecord {
        pixel,
        status: if out.broken.is_empty() { PixelStatus::Done } else { PixelStatus::Partial },
        inputs: ins,
        outputs: Vec::new(),
        code_version: env!("CARGO_PKG_VERSION").into(),
        config: config.into(),
        layers: stages.iter().map(|s| format!("{}={}", s.name(), s.version())).collect(),
        n_rows: out.catalog.num_rows() as u64,
        notes: out.notes,
        error: None,
        broken: out.broken,
    };
    let content = PixelContent { catalog: &out.catalog, exposures: out.exposures.as_ref(), spectra: &out.spectra };
    commit_version(layout, staging, pixel, &content, |outputs| {
        record.outputs = outputs.to_vec();
        record.write(layout)
    })?;
    Ok(record)
}

/// Every file an input reads: coadd, redrock (or zcatalog, with its v2 `-extra` file when
/// one is beside it) and joined files.
fn input_files(i: &PixelInput) -> Vec<PathBuf> {
    let companions = i.redrock.iter().filter(|z| desi_io::is_zcatalog_name(z)).flat_map(|z| desi_io::v2_companions_present(z));
    std::iter::once(&i.coadd).chain(i.redrock.as_ref()).cloned().chain(companions).chain(i.joins.iter().cloned()).collect()
}

/// Whether `pixel` is ingested from exactly `inputs` (unchanged since) with the stage
/// configuration `config` ([`config_fingerprint`]) and its outputs are present: then
/// ingest skips it. A `partial` pixel is current too until one of its files (broken
/// ones included) changes — unless `retry_failed`.
pub fn pixel_is_current(layout: &ArdLayout, pixel: u64, inputs: &[PixelInput], config: &str, retry_failed: bool) -> bool {
    let Ok(Some(rec)) = PixelRecord::read(layout, pixel) else { return false };
    record_is_current(layout, &rec, inputs, config, retry_failed)
}

/// [`pixel_is_current`] for a record already read.
fn record_is_current(layout: &ArdLayout, rec: &PixelRecord, inputs: &[PixelInput], config: &str, retry_failed: bool) -> bool {
    if !rec.status.published() || rec.config != config || (retry_failed && rec.status == PixelStatus::Partial) {
        return false;
    }
    let mut wanted: Vec<String> = inputs.iter().flat_map(input_files).map(|p| p.to_string_lossy().into_owned()).collect();
    wanted.sort();
    wanted.dedup();
    let recorded: Vec<String> = rec.inputs.iter().map(|i| i.path.clone()).collect();
    wanted == recorded && rec.outputs_present(layout) && rec.inputs.iter().all(input_unchanged)
}

/// Whether the ARD's HATS tables need [`finalize`]: never published, or a pixel was
/// committed since (also by a run that crashed before its finalize).
pub fn needs_finalize(ard: &Path) -> bool {
    let layout = ArdLayout::new(ard);
    !layout.collection().join("collection.properties").exists() || ard_store::pixel::is_unpublished(&layout)
}

/// Runs ingest (without finalize; see [`finalize`]).
pub fn ingest(opts: &IngestOptions) -> Result<IngestReport, IngestError> {
    let t0 = Instant::now();
    let layout = ArdLayout::new(&opts.ard);
    std::fs::create_dir_all(&opts.ard).map_err(|e| ard_store::StoreError::io(&opts.ard, e))?;
    let raw_root = opts.raw_root.canonicalize().map_err(|e| ard_store::StoreError::io(&opts.raw_root, e))?;
    let (mut plan, unreadable) = plan_with_problems(&raw_root)?;
    for z in choose_redshifts(&mut plan, &raw_root, opts.zcatalog.as_deref(), opts.no_zcatalog)? {
        tracing::info!("redshifts from {} (it takes precedence over the redrock files)", z.display());
    }
    joins::attach_vacs(&mut plan, &opts.vac)?;
    let mine = pixels_of_shard(&plan, opts.shard, opts.balance, &layout)?;
    // Other shards may be writing now: only this shard's pixels' leftovers (and those of
    // exited writers on this host) are removed.
    let owned: BTreeSet<u64> = mine.iter().copied().collect();
    let io = |e| ard_store::StoreError::io(&opts.ard, e);
    let stale = remove_stale_temporaries(&opts.ard).map_err(io)?
        + remove_temporaries_of(&opts.ard, &|t| ard_store::layout::pixel_of_path(t).is_some_and(|p| owned.contains(&p))).map_err(io)?;
    // Version files no leaf names (a crash between a commit's steps) are garbage.
    let stale = stale + remove_unreferenced_versions(&layout, &|p| owned.contains(&p))?;
    if stale > 0 {
        tracing::warn!("removed {stale} temporary or unreferenced files left by an interrupted run");
    }
    let staging = Staging { scratch: opts.scratch.clone() };
    let config = config_fingerprint(&opts.stages);
    // One read of each record decides the skip and, for a skipped partial pixel, what it
    // still lacks (reported every run).
    let mut still_partial = Vec::new();
    let todo: Vec<u64> = mine
        .iter()
        .copied()
        .filter(|&p| {
            let rec = PixelRecord::read(&layout, p).ok().flatten();
            let current = rec.as_ref().is_some_and(|r| record_is_current(&layout, r, &plan[&p], &config, opts.retry_failed));
            if let Some(r) = rec.filter(|r| current && r.status == PixelStatus::Partial) {
                still_partial.push((p, r.broken));
            }
            !current
        })
        .collect();
    let mut report = IngestReport {
        pixels_found: plan.len(),
        pixels_in_shard: mine.len(),
        pixels_skipped: mine.len() - todo.len(),
        // Every shard sees them; the first reports them.
        unreadable: if opts.shard.is_none_or(|s| s.index == 0) { unreadable } else { Vec::new() },
        ..Default::default()
    };
    let total_targets: u64 = todo.iter().map(|p| plan[p].iter().map(|i| i.n_targets as u64).sum::<u64>()).sum();
    let bar = if opts.quiet { ProgressBar::hidden() } else { ProgressBar::new(total_targets) };
    bar.set_style(
        ProgressStyle::with_template("ingest [{bar:30}] {pos}/{len} objects  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let rows = AtomicU64::new(0);
    let run_pixels: BTreeSet<u64> = todo.iter().copied().collect();
    let (pool, workers) = pool_and_workers(opts)?;
    report.pixel_workers = workers;
    let results: Vec<(u64, Result<PixelRecord, IngestError>)> = memory::for_each_bounded(&pool, workers, &todo, |&p| {
        let r = staging
            .path_for(&layout.spectra_version(p, "spill"))
            .map_err(IngestError::from)
            .and_then(|spill| process_pixel(p, &plan[&p], opts, &run_pixels, &spill))
            .and_then(|out| commit_pixel(&layout, &staging, p, &plan[&p], out, &config, &opts.stages));
        let n: u64 = plan[&p].iter().map(|i| i.n_targets as u64).sum();
        bar.inc(n);
        if let Ok(rec) = &r {
            rows.fetch_add(rec.n_rows, Ordering::Relaxed);
        }
        (p, r)
    });
    bar.finish_and_clear();
    staging.clean();
    for (p, r) in results {
        match r {
            Ok(rec) => {
                report.pixels_done += 1;
                report.notes.extend(rec.notes);
                if !rec.broken.is_empty() {
                    report.partial.push((p, rec.broken));
                }
            }
            Err(e) => {
                // Stale outputs of a pixel whose inputs no longer ingest are withdrawn.
                withdraw_pixel(&layout, p)?;
                let rec = PixelRecord {
                    pixel: p,
                    status: PixelStatus::Failed,
                    inputs: vec![],
                    outputs: vec![],
                    code_version: env!("CARGO_PKG_VERSION").into(),
                    config: config.clone(),
                    layers: Vec::new(),
                    n_rows: 0,
                    notes: vec![],
                    error: Some(ard_core::error::chain(&e)),
                    broken: Vec::new(),
                };
                rec.write(&layout)?;
                report.failed.push((p, ard_core::error::chain(&e)));
            }
        }
    }
    report.partial.extend(still_partial);
    report.partial.sort_by_key(|(p, _)| *p);
    report.rows = rows.into_inner();
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// Summary of [`finalize`].
#[derive(Debug, Clone, Default)]
pub struct FinalizeReport {
    /// Catalogue rows.
    pub rows: u64,
    /// Catalogue partitions.
    pub pixels: usize,
    /// Margin partitions.
    pub margin_pixels: usize,
    /// Exposure rows.
    pub exposure_rows: u64,
    /// Leaves withdrawn because the manifest does not say done.
    pub withdrawn: usize,
}

/// Rebuilds the HATS metadata of the catalogue, its margin cache and the exposures
/// table from the pixels whose manifest record is `done` (after sharded runs, or at
/// the end of an unsharded one). Leaves without such a record are withdrawn.
pub fn finalize(ard: &Path) -> Result<FinalizeReport, IngestError> {
    let layout = ArdLayout::new(ard);
    let records = PixelRecord::all(&layout)?;
    let done: BTreeSet<u64> = records.iter().filter(|r| r.status.published()).map(|r| r.pixel).collect();
    let mut report = FinalizeReport::default();
    let leaves_dir = layout.catalog().join("dataset");
    for (p, _) in list_pixel_files(&leaves_dir, "parquet").map_err(|e| ard_store::StoreError::io(&leaves_dir, e))? {
        if !done.contains(&p) {
            withdraw_pixel(&layout, p)?;
            report.withdrawn += 1;
        }
    }
    // Every shard has finished: version files no leaf names are garbage, and the HATS
    // exposures table is published from the versions the leaves name.
    remove_unreferenced_versions(&layout, &|_| true)?;
    let published = layout.exposures().join("dataset");
    for (p, path) in list_pixel_files(&published, "parquet").map_err(|e| ard_store::StoreError::io(&published, e))? {
        if !done.contains(&p) {
            std::fs::remove_file(&path).map_err(|e| ard_store::StoreError::io(&path, e))?;
        }
    }
    for &p in &done {
        if let Some(v) = ard_store::pixel::PixelVersion::of_leaf(&layout, p)? {
            ard_store::pixel::publish_exposures(&layout, p, &v)?;
        }
    }
    if done.is_empty() {
        return Err(IngestError::NothingToFinalize { ard: ard.to_path_buf() });
    }
    let extra = vec![
        ("desi_ard_cosmology".to_string(), "flat LCDM, Planck 2018: H0=67.66, Om0=0.3111".to_string()),
        ("desi_ard_version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        (
            "desi_ard_stellar_populations".to_string(),
            "E-MILES SSPs (Vazdekis et al. 2016), Padova00 isochrones, unimodal IMF slope 1.30 (Salpeter), baseFe, 25 ages x 6 [M/H]; SED fit: delayed-tau SFH, Calzetti 2000 dust, Gallazzi et al. 2005 mass-metallicity prior, multi-ellipsoid nested sampling".to_string(),
        ),
        (
            "desi_ard_topology".to_string(),
            topology::metadata(ard).unwrap_or_else(|| "not computed: run desi-ard topology (columns web_class .. sigma_5_edge are null)".to_string()),
        ),
    ];
    let info = TableInfo {
        name: CATALOG_NAME.into(),
        kind: TableKind::Object,
        ra: "target_ra".into(),
        dec: "target_dec".into(),
        extra: extra.clone(),
    };
    let s = finalize_table(&layout.catalog(), &info)?;
    report.rows = s.n_rows;
    report.pixels = s.pixels.len();
    report.margin_pixels = build_margin(&layout.catalog(), &layout.margin(), MARGIN_ARCSEC, "target_ra", "target_dec")?;
    if report.margin_pixels > 0 {
        let minfo = TableInfo {
            name: MARGIN_NAME.into(),
            kind: TableKind::Margin { primary: CATALOG_NAME.into(), threshold_arcsec: MARGIN_ARCSEC },
            ra: "target_ra".into(),
            dec: "target_dec".into(),
            extra: extra.clone(),
        };
        finalize_table(&layout.margin(), &minfo)?;
    } else {
        ard_store::hats::clear_table(&layout.margin()).map_err(|e| ard_store::StoreError::io(&layout.margin(), e))?;
    }
    write_collection_properties(&layout.collection(), CATALOG_NAME, (report.margin_pixels > 0).then_some(MARGIN_NAME))?;
    if !list_pixel_files(&layout.exposures().join("dataset"), "parquet")
        .map_err(|e| ard_store::StoreError::io(&layout.exposures(), e))?
        .is_empty()
    {
        let einfo = TableInfo {
            name: "desi_ard_exposures".into(),
            kind: TableKind::Source,
            ra: "target_ra".into(),
            dec: "target_dec".into(),
            extra,
        };
        report.exposure_rows = finalize_table(&layout.exposures(), &einfo)?.n_rows;
    }
    ard_store::pixel::mark_published(&layout)?;
    Ok(report)
}
