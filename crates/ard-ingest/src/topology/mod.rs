//! The topology layer over a whole ARD (`desi-ard topology`): it reads the catalogue's
//! positions, splits the volume into overlapping cubic sub-volumes, runs the
//! tessellation, density and skeleton of `ard-topology` in each, and writes the
//! environment columns back into every catalogue leaf (atomically, manifest updated,
//! HATS metadata rebuilt).
//!
//! Parts: [`catalogue`] (the tracer population read from the leaves), [`subvolumes`]
//! (one sub-volume's computation and its result files), [`state`] (what the last run
//! saw: staleness, fingerprints), [`merge`] (stitching the results, Σ5, writing the
//! leaves). The pure geometry of the decomposition is `ard_topology::decomposition`.
//!
//! * Density-defining population: primary coadds (`zcat_primary`) of galaxies
//!   (`spectype` GALAXY) with `zwarn` = 0 and 0.001 < z < 1.6. Other rows get nulls and
//!   a `topology_status` saying why.
//! * Decomposition: the bounding box of the population is cut into N cells (a grid
//!   nx × ny × nz = N as close to cubes as N allows); a cell's sub-volume is the cell
//!   grown by `buffer_mpc` on every side. A galaxy belongs to the cell that contains it
//!   and gets the environment computed in that cell's sub-volume. The buffer (40 Mpc
//!   by default) is two to three typical filament lengths (10–20 Mpc; the simulator's
//!   are up to 45), so that the persistence pairs and arcs of a galaxy's neighbourhood
//!   are complete inside its sub-volume.
//! * `--subvolume i` computes one sub-volume and writes `topology/n<N>/sub-<i>.parquet`
//!   (and a JSON report) atomically; `--merge` stitches the N results, computes Σ5 over
//!   the whole catalogue, and writes the columns; without either, both in one process.
//! * Staleness: ingest writes these columns null (`topology_status` "pending"); the
//!   topology run records in `topology/state.json` the hash of every leaf it wrote, so
//!   a pixel whose manifest now names another leaf (re-ingested) or that it never saw
//!   (new) is stale — [`stale_pixels`], reported by `desi-ard info` — until the next
//!   run. (Derived from the manifest, so parallel ingest shards need no shared file.)

mod catalogue;
mod merge;
mod state;
mod subvolumes;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ard_core::eligibility::Ineligible;
use ard_core::web::WebClass;
use ard_core::{names, status_spec, ColumnSpec, SpectrumBatch, Stage, StageError, StageOutput, StatusCode};
use ard_store::layout::ArdLayout;
use ard_topology::{Cells, Sigma5Config, WebConfig};
use arrow_array::{ArrayRef, Float32Array, Int8Array, StringArray};
use arrow_schema::DataType;

use crate::IngestError;

pub use state::{run_fingerprint, stale_pixels, subvolume_states, RunSummary, SubvolumeState, TopologyState};
pub use subvolumes::SubvolumeReport;

/// Where the topology state and sub-volume results live, under the ARD root.
pub const TOPOLOGY_DIR: &str = "topology";

/// The columns of the topology layer.
pub fn column_specs() -> Vec<ColumnSpec> {
    vec![
        ColumnSpec::new(
            names::WEB_CLASS,
            DataType::Int8,
            "",
            &format!(
                "cosmic-web class: {} (persistence skeleton of the DTFE density, see metadata desi_ard_topology)",
                WebClass::ALL.map(|c| format!("{} {}", c.code(), c.name())).join(", ")
            ),
        ),
        ColumnSpec::new("dist_filament", DataType::Float32, "Mpc", "comoving distance to the nearest filament segment of the skeleton"),
        ColumnSpec::new("dist_node", DataType::Float32, "Mpc", "comoving distance to the nearest surviving density maximum (node)"),
        ColumnSpec::new("density_dtfe", DataType::Float32, "Mpc^-3", "DTFE density of the density-defining population at the galaxy (Schaap & van de Weygaert 2000)"),
        ColumnSpec::new("sigma_5", DataType::Float32, "Mpc^-2", "5 / (pi d5^2), d5 the projected comoving distance to the 5th nearest neighbour within |dv| <= 1000 km/s"),
        ColumnSpec::new("sigma_5_edge", DataType::Float32, "", "fraction of the d5 disc inside the footprint (the ARD's nside-64 pixels); < 1 biases sigma_5 low"),
        status_spec::<TopologyStatus>(
            "topology_status",
            "ok, boundary (on the hull of its sub-volume: class unreliable), or why null: pending (run desi-ard topology), or not in the tracer population",
        ),
    ]
}

/// Code version of the topology columns (see `pipeline::LAYERS`).
pub const VERSION: u32 = 5;

/// The ingest stage that gives every new leaf the topology columns, null and
/// `pending`, so that every leaf has the same schema before `desi-ard topology` runs.
pub struct TopologyColumns;

impl Stage for TopologyColumns {
    fn name(&self) -> &str {
        "topology"
    }
    fn version(&self) -> String {
        format!("placeholder-{VERSION}")
    }
    fn columns(&self) -> Vec<ColumnSpec> {
        column_specs()
    }
    fn compute(&self, batch: &SpectrumBatch) -> Result<StageOutput, StageError> {
        let n = batch.len();
        Ok(null_columns(&vec![TopologyStatus::Pending.code(); n]).into())
    }
}

fn null_columns(status: &[&str]) -> Vec<ArrayRef> {
    let n = status.len();
    vec![
        Arc::new(Int8Array::from(vec![None; n])),
        Arc::new(Float32Array::from(vec![None; n])),
        Arc::new(Float32Array::from(vec![None; n])),
        Arc::new(Float32Array::from(vec![None; n])),
        Arc::new(Float32Array::from(vec![None; n])),
        Arc::new(Float32Array::from(vec![None; n])),
        Arc::new(StringArray::from(status.to_vec())),
    ]
}

/// Settings of a topology run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopologyOptions {
    /// Number of sub-volumes.
    pub subvolumes: usize,
    /// Buffer around each cell, comoving Mpc.
    pub buffer_mpc: f64,
    /// Skeleton and classification.
    pub web: WebConfig,
    /// Σ5.
    pub sigma5: Sigma5Config,
}

impl Default for TopologyOptions {
    fn default() -> Self {
        TopologyOptions { subvolumes: 1, buffer_mpc: 40.0, web: WebConfig::default(), sigma5: Sigma5Config::default() }
    }
}

/// Which part of the work to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopologyStep {
    /// Every sub-volume, then the merge.
    All,
    /// Sub-volume i only.
    One(usize),
    /// Only the merge of existing sub-volume results.
    Merge,
}

/// The `topology_status` vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopologyStatus {
    /// Classified.
    Ok,
    /// On the hull of its sub-volume: class unreliable.
    Boundary,
    /// Ingested since the last `desi-ard topology` run.
    Pending,
    /// Not in the tracer population ([`ard_core::eligibility`]).
    Ineligible(Ineligible),
}

impl StatusCode for TopologyStatus {
    fn code(&self) -> &'static str {
        match self {
            TopologyStatus::Ok => "ok",
            TopologyStatus::Boundary => "boundary",
            TopologyStatus::Pending => "pending",
            TopologyStatus::Ineligible(i) => i.code(),
        }
    }
    fn codes() -> Vec<&'static str> {
        let mut v = vec!["ok", "boundary", "pending"];
        v.extend(ard_core::eligibility::Requirements::PRIMARY_GALAXY.codes());
        v
    }
}

/// What [`run`] did.
#[derive(Debug, Clone, Default)]
pub struct TopologyReport {
    /// Galaxies of the density-defining population.
    pub galaxies: usize,
    /// Sub-volumes computed now.
    pub subvolumes: Vec<SubvolumeReport>,
    /// Catalogue rows written (merge).
    pub rows: usize,
    /// Leaves rewritten (merge).
    pub leaves: usize,
    /// SHA-256 of every catalogue leaf written, by pixel (merge).
    pub written: std::collections::BTreeMap<u64, String>,
    /// Rows per web class (merge).
    pub class_counts: [usize; 4],
    /// Wall time, s.
    pub seconds: f64,
}

/// Runs the topology layer over the ARD at `ard`: `step` says which sub-volumes to
/// compute now and whether to merge.
pub fn run(
    ard: &Path,
    opts: &TopologyOptions,
    step: TopologyStep,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<TopologyReport, IngestError> {
    let t0 = Instant::now();
    check_step(opts, step)?;
    let fingerprint = run_fingerprint(ard, opts)?;
    if step == TopologyStep::Merge {
        state::require_mergeable(ard, opts, &fingerprint)?;
    }
    let layout = ArdLayout::new(ard);
    let cat = catalogue::read_catalogue(&layout)?;
    let points: Vec<[f64; 3]> = cat.galaxies.iter().map(|g| g.pos).collect();
    let cells = Cells::new(&points, opts.subvolumes);
    let opts = &with_background(opts, &points, cat.pixels.len());
    let mut report = TopologyReport { galaxies: cat.galaxies.len(), ..Default::default() };
    let todo: Vec<usize> = match step {
        TopologyStep::All => (0..opts.subvolumes).collect(),
        TopologyStep::One(i) => vec![i],
        TopologyStep::Merge => vec![],
    };
    for i in todo {
        report.subvolumes.push(subvolumes::compute(ard, &cat.galaxies, &cells, i, opts, &fingerprint, progress)?);
    }
    if !matches!(step, TopologyStep::One(_)) {
        merge::merge(ard, &cat, opts, &mut report, progress)?;
        state::record_run(ard, opts, &report, t0.elapsed().as_secs_f64())?;
        crate::finalize(ard)?;
    }
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

fn check_step(opts: &TopologyOptions, step: TopologyStep) -> Result<(), IngestError> {
    if opts.subvolumes == 0 {
        return Err(IngestError::NoSubvolumes);
    }
    match step {
        TopologyStep::One(i) if i >= opts.subvolumes => Err(IngestError::SubvolumeOutOfRange { index: i, count: opts.subvolumes }),
        _ => Ok(()),
    }
}

/// `opts` with one background for every sub-volume (unless given): the population's
/// density in shells of comoving distance over the footprint of `pixels` nside-64
/// pixels (the survey's radial selection).
fn with_background(opts: &TopologyOptions, points: &[[f64; 3]], pixels: usize) -> TopologyOptions {
    let mut opts = *opts;
    let solid_angle = pixels as f64 * 4.0 * std::f64::consts::PI / (12.0 * 4096.0);
    if opts.web.background.is_none() {
        opts.web.background = ard_topology::RadialDensity::from_positions(points, solid_angle);
    }
    opts
}

/// The metadata line describing the topology method (catalogue properties).
pub fn metadata(ard: &Path) -> Option<String> {
    let s = TopologyState::read(ard).ok()?;
    let r = s.last_run?;
    Some(format!(
        "DTFE density on a 3-D Delaunay tessellation; persistence-simplified skeleton (DisPerSE-calibrated Poisson thresholds, {} sigma; arcs with saddle density < {} x the survey's mean density at that comoving distance trimmed); knot if dist_node < {} Mpc, filament if dist_filament < {} Mpc, else sheet if density_dtfe >= that mean else void; {} sub-volumes with {} Mpc buffers; sigma_5: 5th neighbour within 1000 km/s; population: primary GALAXY, ZWARN=0{}",
        r.n_sigma,
        r.trim_below,
        r.r_node,
        r.r_filament,
        r.subvolumes,
        r.buffer_mpc,
        match stale_pixels(ard) {
            Ok(p) if !p.is_empty() => format!("; STALE: {} pixels ingested since", p.len()),
            _ => String::new(),
        }
    ))
}
