//! The topology layer over a whole ARD (`desi-ard topology`): it reads the catalogue's
//! positions, splits the volume into overlapping cubic sub-volumes, runs the
//! tessellation, density and skeleton of `ard-topology` in each, and writes the
//! environment columns back into every catalogue leaf (atomically, manifest updated,
//! HATS metadata rebuilt).
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ard_core::cosmology::PLANCK18;
use ard_core::{ColumnSpec, SpectrumBatch, Stage, StageError};
use ard_store::atomic::{commit, temporary_for, write_atomic};
use ard_store::layout::ArdLayout;
use ard_store::manifest::{output_record, PixelRecord, PixelStatus};
use ard_topology::web::{segments, Segment, SegmentIndex};
use ard_topology::{analyse, classify, sigma5, Sigma5Config, WebConfig};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float32Array, Int8Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Schema};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::IngestError;

/// Where the topology state and sub-volume results live, under the ARD root.
pub const TOPOLOGY_DIR: &str = "topology";

/// The columns of the topology layer.
pub fn column_specs() -> Vec<ColumnSpec> {
    vec![
        ColumnSpec::new("web_class", DataType::Int8, "", "cosmic-web class: 0 void, 1 sheet, 2 filament, 3 knot (persistence skeleton of the DTFE density, see metadata desi_ard_topology)"),
        ColumnSpec::new("dist_filament", DataType::Float32, "Mpc", "comoving distance to the nearest filament segment of the skeleton"),
        ColumnSpec::new("dist_node", DataType::Float32, "Mpc", "comoving distance to the nearest surviving density maximum (node)"),
        ColumnSpec::new("density_dtfe", DataType::Float32, "Mpc^-3", "DTFE density of the density-defining population at the galaxy (Schaap & van de Weygaert 2000)"),
        ColumnSpec::new("sigma_5", DataType::Float32, "Mpc^-2", "5 / (pi d5^2), d5 the projected comoving distance to the 5th nearest neighbour within |dv| <= 1000 km/s"),
        ColumnSpec::new("sigma_5_edge", DataType::Float32, "", "fraction of the d5 disc inside the footprint (the ARD's nside-64 pixels); < 1 biases sigma_5 low"),
        ColumnSpec::new(
            "topology_status",
            DataType::Utf8,
            "",
            "ok, boundary (on the hull of its sub-volume: class unreliable), or why null: pending (run desi-ard topology), not_galaxy, zwarn, not_primary, no_redshift",
        ),
    ]
}

/// The ingest stage that gives every new leaf the topology columns, null and
/// `pending`, so that every leaf has the same schema before `desi-ard topology` runs.
pub struct TopologyColumns;

impl Stage for TopologyColumns {
    fn name(&self) -> &str {
        "topology"
    }
    fn version(&self) -> String {
        "placeholder-1".into()
    }
    fn columns(&self) -> Vec<ColumnSpec> {
        column_specs()
    }
    fn compute(&self, batch: &SpectrumBatch) -> Result<Vec<ArrayRef>, StageError> {
        let n = batch.len();
        Ok(null_columns(&vec!["pending"; n]))
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

/// `topology/state.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopologyState {
    /// SHA-256 of every catalogue leaf the last run wrote, by pixel.
    pub leaves: std::collections::BTreeMap<u64, String>,
    /// Settings and figures of the last run.
    pub last_run: Option<RunSummary>,
}

/// What a topology run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Sub-volumes.
    pub subvolumes: usize,
    /// Buffer, Mpc.
    pub buffer_mpc: f64,
    /// Persistence significance, σ.
    pub n_sigma: f64,
    /// Arcs trimmed below this multiple of the mean density at their saddle.
    #[serde(default)]
    pub trim_below: f64,
    /// Knot and filament radii, Mpc.
    pub r_node: f64,
    /// Filament radius, Mpc.
    pub r_filament: f64,
    /// Galaxies of the density-defining population.
    pub galaxies: usize,
    /// Rows written.
    pub rows: usize,
    /// Wall time, s.
    pub seconds: f64,
}

impl TopologyState {
    fn path(ard: &Path) -> PathBuf {
        ard.join(TOPOLOGY_DIR).join("state.json")
    }
    /// Reads the state (default when there is none).
    pub fn read(ard: &Path) -> Result<Self, IngestError> {
        let p = Self::path(ard);
        match std::fs::read_to_string(&p) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| IngestError::Input(format!("{}: {e}", p.display()))),
            Err(_) => Ok(TopologyState::default()),
        }
    }
    fn write(&self, ard: &Path) -> Result<(), IngestError> {
        let p = Self::path(ard);
        let text = serde_json::to_vec_pretty(self).map_err(|e| IngestError::Input(e.to_string()))?;
        Ok(write_atomic(&p, &text)?)
    }
}

/// Pixels whose topology columns are not from the last topology run: ingested since
/// (their rows are null, and their neighbours' environment may have changed) or never
/// processed. Empty when the topology is current.
pub fn stale_pixels(ard: &Path) -> Result<Vec<u64>, IngestError> {
    let layout = ArdLayout::new(ard);
    let state = TopologyState::read(ard)?;
    let mut stale = Vec::new();
    for r in PixelRecord::all(&layout)?.iter().filter(|r| r.status == PixelStatus::Done) {
        let leaf = layout.relative(&layout.catalog_leaf(r.pixel));
        let now = r.outputs.iter().find(|o| o.path == leaf).map(|o| o.sha256.as_str());
        if now.is_none() || state.leaves.get(&r.pixel).map(String::as_str) != now {
            stale.push(r.pixel);
        }
    }
    Ok(stale)
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

/// One galaxy of the density-defining population.
#[derive(Debug, Clone)]
struct Galaxy {
    key: (i64, String, String),
    ra: f64,
    dec: f64,
    z: f64,
    pos: [f64; 3],
}

/// Each leaf's rows, and why rows are not in the population.
struct Catalogue {
    leaves: Vec<(u64, PathBuf)>,
    galaxies: Vec<Galaxy>,
    pixels: Vec<u64>,
}

fn read_catalogue(layout: &ArdLayout) -> Result<Catalogue, IngestError> {
    let records = PixelRecord::all(layout)?;
    let mut leaves = Vec::new();
    let mut galaxies = Vec::new();
    for r in records.iter().filter(|r| r.status == PixelStatus::Done) {
        let path = layout.catalog_leaf(r.pixel);
        let b = ard_store::catalog::read_parquet(&path)?;
        for (i, why) in population(&b, &path)?.into_iter().enumerate() {
            if why.is_none() {
                let g = row_galaxy(&b, i);
                galaxies.push(g);
            }
        }
        leaves.push((r.pixel, path));
    }
    if galaxies.len() < 5 {
        return Err(IngestError::Usage(format!(
            "{}: {} galaxies in the density-defining population (primary GALAXY coadds with ZWARN = 0); the topology needs more",
            layout.root.display(),
            galaxies.len()
        )));
    }
    let pixels = leaves.iter().map(|l| l.0).collect();
    Ok(Catalogue { leaves, galaxies, pixels })
}

fn col<'a>(b: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a ArrayRef, IngestError> {
    b.column_by_name(name).ok_or_else(|| IngestError::Input(format!("{}: no column {name}", path.display())))
}

/// Per row: None when it is in the population, else why not.
fn population(b: &RecordBatch, path: &Path) -> Result<Vec<Option<&'static str>>, IngestError> {
    let z = col(b, "z", path)?.as_primitive::<Float64Type>();
    let zwarn = col(b, "zwarn", path)?.as_primitive::<Int64Type>();
    let spectype = col(b, "spectype", path)?.as_string::<i32>();
    let primary = col(b, "zcat_primary", path)?.as_boolean();
    let ra = col(b, "target_ra", path)?.as_primitive::<Float64Type>();
    let dec = col(b, "target_dec", path)?.as_primitive::<Float64Type>();
    Ok((0..b.num_rows())
        .map(|i| {
            if z.is_null(i) || !(z.value(i) > 0.001 && z.value(i) < 1.6) || ra.is_null(i) || dec.is_null(i) {
                Some("no_redshift")
            } else if spectype.is_null(i) || !spectype.value(i).trim().eq_ignore_ascii_case("GALAXY") {
                Some("not_galaxy")
            } else if zwarn.is_null(i) || zwarn.value(i) != 0 {
                Some("zwarn")
            } else if primary.is_null(i) || !primary.value(i) {
                Some("not_primary")
            } else {
                None
            }
        })
        .collect())
}

/// The (TARGETID, SURVEY, PROGRAM) key of row `i`.
fn row_key(b: &RecordBatch, i: usize) -> (i64, String, String) {
    let s = |n: &str| b.column_by_name(n).map(|c| c.as_string::<i32>().value(i).to_string()).unwrap_or_default();
    let id = b.column_by_name("targetid").map(|c| c.as_primitive::<Int64Type>().value(i)).unwrap_or(0);
    (id, s("survey"), s("program"))
}

fn row_galaxy(b: &RecordBatch, i: usize) -> Galaxy {
    let f = |n: &str| b.column_by_name(n).map(|c| c.as_primitive::<Float64Type>().value(i)).unwrap_or(f64::NAN);
    let (ra, dec, z) = (f("target_ra"), f("target_dec"), f("z"));
    Galaxy { key: row_key(b, i), ra, dec, z, pos: ard_topology::geometry::comoving_position(&PLANCK18, ra, dec, z) }
}

/// The grid nx × ny × nz = n whose cells are closest to cubes for a box of `extent`.
pub fn grid_for(n: usize, extent: [f64; 3]) -> [usize; 3] {
    let mut best = [n, 1, 1];
    let mut best_score = f64::INFINITY;
    for nx in 1..=n {
        if n % nx != 0 {
            continue;
        }
        for ny in 1..=n / nx {
            if (n / nx) % ny != 0 {
                continue;
            }
            let nz = n / nx / ny;
            let cell = [extent[0] / nx as f64, extent[1] / ny as f64, extent[2] / nz as f64];
            let (lo, hi) = (cell.iter().cloned().fold(f64::INFINITY, f64::min), cell.iter().cloned().fold(0.0, f64::max));
            let score = hi / lo.max(1e-9);
            if score < best_score - 1e-12 {
                best_score = score;
                best = [nx, ny, nz];
            }
        }
    }
    best
}

struct Cells {
    lo: [f64; 3],
    size: [f64; 3],
    grid: [usize; 3],
}

impl Cells {
    fn new(points: &[[f64; 3]], n: usize) -> Self {
        let (lo, hi) = ard_topology::geometry::bounding_box(points);
        let extent: [f64; 3] = std::array::from_fn(|k| (hi[k] - lo[k]).max(1e-6));
        let grid = grid_for(n, extent);
        Cells { lo, size: std::array::from_fn(|k| extent[k] / grid[k] as f64), grid }
    }
    fn cell_of(&self, p: &[f64; 3]) -> usize {
        let c: [usize; 3] = std::array::from_fn(|k| (((p[k] - self.lo[k]) / self.size[k]).floor().max(0.0) as usize).min(self.grid[k] - 1));
        (c[2] * self.grid[1] + c[1]) * self.grid[0] + c[0]
    }
    fn in_extended(&self, cell: usize, p: &[f64; 3], buffer: f64) -> bool {
        let c = [cell % self.grid[0], (cell / self.grid[0]) % self.grid[1], cell / (self.grid[0] * self.grid[1])];
        (0..3).all(|k| {
            let a = self.lo[k] + c[k] as f64 * self.size[k] - buffer;
            let b = self.lo[k] + (c[k] + 1) as f64 * self.size[k] + buffer;
            p[k] >= a && p[k] <= b
        })
    }
}

/// Environment of one galaxy from its sub-volume.
#[derive(Debug, Clone, Copy)]
struct Env {
    web_class: i8,
    dist_filament: f64,
    dist_node: f64,
    density: f64,
    boundary: bool,
}

/// Figures of one sub-volume.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SubvolumeReport {
    /// Index.
    pub index: usize,
    /// Galaxies it owns.
    pub owned: usize,
    /// Galaxies in it with the buffer.
    pub points: usize,
    /// Tetrahedra.
    pub tetrahedra: usize,
    /// Arcs of the skeleton.
    pub arcs: usize,
    /// Surviving maxima.
    pub nodes: usize,
    /// Persistence pairs and significant pairs ((2-saddle, max), (1-saddle, 2-saddle), (min, 1-saddle)).
    pub pairs: [usize; 3],
    /// Significant pairs.
    pub significant: [usize; 3],
    /// Estimated peak memory of the tessellation and skeleton, bytes.
    pub memory_bytes: u64,
    /// Wall time, s.
    pub seconds: f64,
    /// [`run_fingerprint`] of the catalogue and settings it was computed from.
    #[serde(default)]
    pub fingerprint: String,
}

/// Identity of what a topology run reads: every done pixel's ingest configuration and
/// input contents (SHA-256 from the manifest) and the run's settings. Sub-volume results
/// carry it, so a merge never stitches results computed from another catalogue or with
/// other settings. Writing the topology columns leaves it unchanged.
pub fn run_fingerprint(ard: &Path, opts: &TopologyOptions) -> Result<String, IngestError> {
    let layout = ArdLayout::new(ard);
    let mut h = Sha256::new();
    h.update(format!("{opts:?}"));
    let mut records = PixelRecord::all(&layout)?;
    records.retain(|r| r.status == PixelStatus::Done);
    records.sort_by_key(|r| r.pixel);
    for r in &records {
        h.update(format!("|{}:{}", r.pixel, r.config));
        for i in &r.inputs {
            h.update(format!(",{}", i.sha256));
        }
    }
    Ok(format!("{:x}", h.finalize())[..16].to_string())
}

/// Whether sub-volume `i`'s result can be merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubvolumeState {
    /// No result.
    Missing,
    /// A result from another catalogue or other settings.
    Stale,
    /// A result from this catalogue and these settings.
    Current,
}

/// The state of every sub-volume's result for `opts` (`opts.subvolumes` of them).
pub fn subvolume_states(ard: &Path, opts: &TopologyOptions) -> Result<Vec<SubvolumeState>, IngestError> {
    Ok(states_against(ard, opts, &run_fingerprint(ard, opts)?))
}

fn states_against(ard: &Path, opts: &TopologyOptions, fp: &str) -> Vec<SubvolumeState> {
    (0..opts.subvolumes)
        .map(|i| {
            let json = sub_path(ard, opts.subvolumes, i).with_extension("json");
            let report: Option<SubvolumeReport> = std::fs::read_to_string(&json).ok().and_then(|t| serde_json::from_str(&t).ok());
            match report {
                _ if !sub_path(ard, opts.subvolumes, i).exists() || !skeleton_path(ard, opts.subvolumes, i).exists() => {
                    SubvolumeState::Missing
                }
                None => SubvolumeState::Missing,
                Some(r) if r.fingerprint == fp => SubvolumeState::Current,
                Some(_) => SubvolumeState::Stale,
            }
        })
        .collect()
}

/// The part of a sub-volume's skeleton its cell owns: segments whose midpoint and
/// nodes that lie in the cell.
#[derive(Debug, Clone, Default)]
struct OwnedSkeleton {
    segments: Vec<Segment>,
    nodes: Vec<[f64; 3]>,
}

type SubResult = (Vec<(usize, Env)>, OwnedSkeleton, SubvolumeReport);

fn subvolume(gal: &[Galaxy], cells: &Cells, i: usize, opts: &TopologyOptions) -> Result<SubResult, IngestError> {
    let t0 = Instant::now();
    let members: Vec<usize> = (0..gal.len()).filter(|&g| cells.in_extended(i, &gal[g].pos, opts.buffer_mpc)).collect();
    let owned: Vec<usize> = members.iter().copied().filter(|&g| cells.cell_of(&gal[g].pos) == i).collect();
    let mut report = SubvolumeReport { index: i, owned: owned.len(), points: members.len(), ..Default::default() };
    if owned.is_empty() {
        return Ok((Vec::new(), OwnedSkeleton::default(), report));
    }
    if members.len() < 5 {
        let env = Env { web_class: 0, dist_filament: f64::NAN, dist_node: f64::NAN, density: f64::NAN, boundary: true };
        return Ok((owned.into_iter().map(|g| (g, env)).collect(), OwnedSkeleton::default(), report));
    }
    let points: Vec<[f64; 3]> = members.iter().map(|&g| gal[g].pos).collect();
    let va = analyse(&points, &opts.web).map_err(|e| IngestError::Input(format!("sub-volume {i}: {e}")))?;
    let segs = segments(&va.skeleton);
    let nodes: Vec<[f64; 3]> = va.skeleton.nodes.iter().map(|&k| points[k as usize]).collect();
    let mid = |s: &Segment| -> [f64; 3] { std::array::from_fn(|k| 0.5 * (s.a[k] + s.b[k])) };
    let skeleton = OwnedSkeleton {
        segments: segs.iter().filter(|s| cells.cell_of(&mid(s)) == i).copied().collect(),
        nodes: nodes.iter().filter(|p| cells.cell_of(p) == i).copied().collect(),
    };
    let index = SegmentIndex::new(segs);
    let env = classify(&points, &va.density, &va.hull, &index, &nodes, va.mean_density, &opts.web);
    let local: HashMap<usize, usize> = members.iter().enumerate().map(|(k, &g)| (g, k)).collect();
    let out = owned
        .iter()
        .map(|&g| {
            let e = env[local[&g]];
            (
                g,
                Env {
                    web_class: e.web_class,
                    dist_filament: e.dist_filament,
                    dist_node: e.dist_node,
                    density: e.density,
                    boundary: e.boundary,
                },
            )
        })
        .collect();
    report.tetrahedra = va.n_tets;
    report.arcs = va.skeleton.arcs.len();
    report.nodes = va.skeleton.nodes.len();
    report.pairs = va.skeleton.pairs;
    report.significant = va.skeleton.significant;
    // Tetrahedra (vertices + neighbours + flag) dominate, then the edge and triangle
    // lists of the filtration (≈ 7 and 13 per point) and the per-point arrays.
    report.memory_bytes = (va.n_tets as u64) * (33 + 16 + 24) + points.len() as u64 * (24 + 7 * 8 + 13 * 12 + 64);
    report.seconds = t0.elapsed().as_secs_f64();
    Ok((out, skeleton, report))
}

fn skeleton_path(ard: &Path, n: usize, i: usize) -> PathBuf {
    ard.join(TOPOLOGY_DIR).join(format!("n{n}")).join(format!("skeleton-{i}.parquet"))
}

fn read_skeleton(ard: &Path, n: usize, i: usize, into: &mut OwnedSkeleton) -> Result<(), IngestError> {
    let path = skeleton_path(ard, n, i);
    let b = ard_store::catalog::read_parquet(&path)?;
    let kind = col(&b, "kind", &path)?.as_primitive::<arrow_array::types::Int8Type>();
    let c = |name: &str| -> Result<Vec<f64>, IngestError> { Ok(col(&b, name, &path)?.as_primitive::<Float64Type>().values().to_vec()) };
    let (ax, ay, az, bx, by, bz) = (c("ax")?, c("ay")?, c("az")?, c("bx")?, c("by")?, c("bz")?);
    let boundary = col(&b, "boundary", &path)?.as_boolean();
    for r in 0..b.num_rows() {
        let (a, e) = ([ax[r], ay[r], az[r]], [bx[r], by[r], bz[r]]);
        if kind.value(r) == 0 {
            into.segments.push(Segment { a, b: e, boundary: boundary.value(r) });
        } else {
            into.nodes.push(a);
        }
    }
    Ok(())
}

fn sub_path(ard: &Path, n: usize, i: usize) -> PathBuf {
    ard.join(TOPOLOGY_DIR).join(format!("n{n}")).join(format!("sub-{i}.parquet"))
}

fn write_sub(
    ard: &Path,
    n: usize,
    i: usize,
    gal: &[Galaxy],
    env: &[(usize, Env)],
    skel: &OwnedSkeleton,
    report: &SubvolumeReport,
) -> Result<(), IngestError> {
    // The owned skeleton: segments (kind 0, a → b) and nodes (kind 1, a = b).
    let rows: Vec<(i8, [f64; 3], [f64; 3], bool)> =
        skel.segments.iter().map(|s| (0, s.a, s.b, s.boundary)).chain(skel.nodes.iter().map(|p| (1, *p, *p, false))).collect();
    let f = |get: &dyn Fn(&(i8, [f64; 3], [f64; 3], bool)) -> f64| -> ArrayRef {
        Arc::new(arrow_array::Float64Array::from(rows.iter().map(get).collect::<Vec<_>>()))
    };
    let skeleton = RecordBatch::try_from_iter(vec![
        ("kind", Arc::new(Int8Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())) as ArrayRef),
        ("ax", f(&|r| r.1[0])),
        ("ay", f(&|r| r.1[1])),
        ("az", f(&|r| r.1[2])),
        ("bx", f(&|r| r.2[0])),
        ("by", f(&|r| r.2[1])),
        ("bz", f(&|r| r.2[2])),
        ("boundary", Arc::new(arrow_array::BooleanArray::from(rows.iter().map(|r| r.3).collect::<Vec<_>>()))),
    ])
    .map_err(|e| IngestError::Input(e.to_string()))?;
    let skel_path = skeleton_path(ard, n, i);
    if let Some(d) = skel_path.parent() {
        std::fs::create_dir_all(d).map_err(|e| ard_store::StoreError::io(d, e))?;
    }
    let tmp = temporary_for(&skel_path);
    ard_store::catalog::write_parquet(&tmp, &skeleton)?;
    commit(&tmp, &skel_path)?;
    let path = sub_path(ard, n, i);
    let batch = RecordBatch::try_from_iter(vec![
        ("targetid", Arc::new(arrow_array::Int64Array::from(env.iter().map(|(g, _)| gal[*g].key.0).collect::<Vec<_>>())) as ArrayRef),
        ("survey", Arc::new(StringArray::from(env.iter().map(|(g, _)| gal[*g].key.1.clone()).collect::<Vec<_>>()))),
        ("program", Arc::new(StringArray::from(env.iter().map(|(g, _)| gal[*g].key.2.clone()).collect::<Vec<_>>()))),
        ("web_class", Arc::new(Int8Array::from(env.iter().map(|(_, e)| e.web_class).collect::<Vec<_>>()))),
        ("dist_filament", Arc::new(arrow_array::Float64Array::from(env.iter().map(|(_, e)| e.dist_filament).collect::<Vec<_>>()))),
        ("dist_node", Arc::new(arrow_array::Float64Array::from(env.iter().map(|(_, e)| e.dist_node).collect::<Vec<_>>()))),
        ("density_dtfe", Arc::new(arrow_array::Float64Array::from(env.iter().map(|(_, e)| e.density).collect::<Vec<_>>()))),
        ("boundary", Arc::new(arrow_array::BooleanArray::from(env.iter().map(|(_, e)| e.boundary).collect::<Vec<_>>()))),
    ])
    .map_err(|e| IngestError::Input(e.to_string()))?;
    let tmp = temporary_for(&path);
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| ard_store::StoreError::io(d, e))?;
    }
    ard_store::catalog::write_parquet(&tmp, &batch)?;
    commit(&tmp, &path)?;
    let json = serde_json::to_vec_pretty(report).map_err(|e| IngestError::Input(e.to_string()))?;
    write_atomic(&path.with_extension("json"), &json)?;
    Ok(())
}

type EnvByKey = HashMap<(i64, String, String), Env>;

fn read_sub(ard: &Path, n: usize, i: usize) -> Result<EnvByKey, IngestError> {
    let path = sub_path(ard, n, i);
    if !path.exists() {
        return Err(IngestError::Usage(format!(
            "{}: sub-volume {i} of {n} has no result; run `desi-ard topology {} --subvolumes {n} --subvolume {i}` first",
            path.display(),
            ard.display()
        )));
    }
    let b = ard_store::catalog::read_parquet(&path)?;
    let ids = col(&b, "targetid", &path)?.as_primitive::<Int64Type>();
    let sv = col(&b, "survey", &path)?.as_string::<i32>();
    let pg = col(&b, "program", &path)?.as_string::<i32>();
    let wc = col(&b, "web_class", &path)?.as_primitive::<arrow_array::types::Int8Type>();
    let df = col(&b, "dist_filament", &path)?.as_primitive::<Float64Type>();
    let dn = col(&b, "dist_node", &path)?.as_primitive::<Float64Type>();
    let de = col(&b, "density_dtfe", &path)?.as_primitive::<Float64Type>();
    let bd = col(&b, "boundary", &path)?.as_boolean();
    Ok((0..b.num_rows())
        .map(|r| {
            (
                (ids.value(r), sv.value(r).to_string(), pg.value(r).to_string()),
                Env {
                    web_class: wc.value(r),
                    dist_filament: df.value(r),
                    dist_node: dn.value(r),
                    density: de.value(r),
                    boundary: bd.value(r),
                },
            )
        })
        .collect())
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
    /// Rows per web class (merge).
    pub class_counts: [usize; 4],
    /// Wall time, s.
    pub seconds: f64,
}

/// Runs the topology layer over the ARD at `ard`.
pub fn run(
    ard: &Path,
    opts: &TopologyOptions,
    step: TopologyStep,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<TopologyReport, IngestError> {
    let t0 = Instant::now();
    if opts.subvolumes == 0 {
        return Err(IngestError::Usage("--subvolumes must be at least 1".into()));
    }
    if let TopologyStep::One(i) = step {
        if i >= opts.subvolumes {
            return Err(IngestError::Usage(format!("--subvolume {i} is out of range: there are {} (0-based)", opts.subvolumes)));
        }
    }
    let layout = ArdLayout::new(ard);
    let fingerprint = run_fingerprint(ard, opts)?;
    if step == TopologyStep::Merge {
        let states = states_against(ard, opts, &fingerprint);
        let n = opts.subvolumes;
        let not_ready: Vec<String> = states
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                SubvolumeState::Current => None,
                SubvolumeState::Missing => Some(format!("sub-volume {i} of {n} has no result")),
                SubvolumeState::Stale => Some(format!(
                    "sub-volume {i} of {n} has a stale result (computed before pixels were ingested, or with other --buffer/--nsig/--trim)"
                )),
            })
            .collect();
        if !not_ready.is_empty() {
            return Err(IngestError::Usage(format!(
                "{}: cannot merge: {}; run `desi-ard topology {} --subvolumes {n} --subvolume i` for each",
                ard.display(),
                not_ready.join("; "),
                ard.display()
            )));
        }
    }
    let cat = read_catalogue(&layout)?;
    let points: Vec<[f64; 3]> = cat.galaxies.iter().map(|g| g.pos).collect();
    let cells = Cells::new(&points, opts.subvolumes);
    // One background for every sub-volume: the population's density in shells of
    // comoving distance over the footprint (the survey's radial selection).
    let mut opts = *opts;
    let solid_angle = cat.pixels.len() as f64 * 4.0 * std::f64::consts::PI / (12.0 * 4096.0);
    if opts.web.background.is_none() {
        opts.web.background = ard_topology::RadialDensity::from_positions(&points, solid_angle);
    }
    let opts = &opts;
    let mut report = TopologyReport { galaxies: cat.galaxies.len(), ..Default::default() };
    let todo: Vec<usize> = match step {
        TopologyStep::All => (0..opts.subvolumes).collect(),
        TopologyStep::One(i) => vec![i],
        TopologyStep::Merge => vec![],
    };
    for i in todo {
        let (env, skel, mut rep) = subvolume(&cat.galaxies, &cells, i, opts)?;
        rep.fingerprint = fingerprint.clone();
        progress(&format!(
            "sub-volume {i}/{}: {} galaxies ({} owned), {} tetrahedra, {} arcs, {} nodes, ~{:.0} MB, {:.1} s",
            opts.subvolumes,
            rep.points,
            rep.owned,
            rep.tetrahedra,
            rep.arcs,
            rep.nodes,
            rep.memory_bytes as f64 / 1e6,
            rep.seconds
        ));
        write_sub(ard, opts.subvolumes, i, &cat.galaxies, &env, &skel, &rep)?;
        report.subvolumes.push(rep);
    }
    if matches!(step, TopologyStep::One(_)) {
        report.seconds = t0.elapsed().as_secs_f64();
        return Ok(report);
    }
    // Merge: every sub-volume's results, Σ5 over the whole catalogue, then the leaves.
    let mut env: EnvByKey = HashMap::new();
    let mut skel = OwnedSkeleton::default();
    for i in 0..opts.subvolumes {
        env.extend(read_sub(ard, opts.subvolumes, i)?);
        read_skeleton(ard, opts.subvolumes, i, &mut skel)?;
    }
    // Distances and classes against the stitched skeleton: every segment and node counted
    // once (by the cell that owns it), so a galaxy near a cell boundary sees both sides.
    progress(&format!("stitched skeleton: {} segments, {} nodes", skel.segments.len(), skel.nodes.len()));
    {
        let index = SegmentIndex::new(std::mem::take(&mut skel.segments));
        let keys: Vec<&(i64, String, String)> = cat.galaxies.iter().map(|g| &g.key).filter(|k| env.contains_key(*k)).collect();
        let pts: Vec<[f64; 3]> = cat.galaxies.iter().filter(|g| env.contains_key(&g.key)).map(|g| g.pos).collect();
        let dens: Vec<f64> = keys.iter().map(|k| env[*k].density).collect();
        let hull: Vec<bool> = keys.iter().map(|k| env[*k].boundary).collect();
        let mean = opts.web.background.map_or(0.0, |b| b.shells.iter().sum::<f64>() / b.shells.len() as f64);
        let stitched = classify(&pts, &dens, &hull, &index, &skel.nodes, mean, &opts.web);
        let updates: Vec<((i64, String, String), Env)> = keys
            .iter()
            .zip(&stitched)
            .map(|(k, e)| {
                let density = env[*k].density;
                let web_class = if density.is_finite() { e.web_class } else { env[*k].web_class };
                ((*k).clone(), Env { web_class, dist_filament: e.dist_filament, dist_node: e.dist_node, density, boundary: e.boundary })
            })
            .collect();
        env.extend(updates);
    }
    let ra: Vec<f64> = cat.galaxies.iter().map(|g| g.ra).collect();
    let dec: Vec<f64> = cat.galaxies.iter().map(|g| g.dec).collect();
    let z: Vec<f64> = cat.galaxies.iter().map(|g| g.z).collect();
    progress(&format!("Σ5 over {} galaxies", ra.len()));
    let s5 = sigma5(&PLANCK18, &ra, &dec, &z, &cat.pixels, &opts.sigma5);
    let mut written = std::collections::BTreeMap::new();
    let s5_by_key: HashMap<&(i64, String, String), usize> = cat.galaxies.iter().enumerate().map(|(k, g)| (&g.key, k)).collect();
    for (pixel, path) in &cat.leaves {
        let b = ard_store::catalog::read_parquet(path)?;
        let why = population(&b, path)?;
        let n = b.num_rows();
        let mut class = Vec::with_capacity(n);
        let mut dfil = Vec::with_capacity(n);
        let mut dnode = Vec::with_capacity(n);
        let mut dens = Vec::with_capacity(n);
        let mut sig = Vec::with_capacity(n);
        let mut edge = Vec::with_capacity(n);
        let mut status: Vec<&str> = Vec::with_capacity(n);
        for (i, w) in why.iter().enumerate() {
            let key = row_key(&b, i);
            let e = w.is_none().then(|| env.get(&key)).flatten();
            match (w, e) {
                (None, Some(e)) => {
                    let s = s5_by_key.get(&key).map(|&k| s5[k]);
                    let f = |v: f64| v.is_finite().then_some(v as f32);
                    class.push(Some(e.web_class));
                    report.class_counts[e.web_class.clamp(0, 3) as usize] += 1;
                    dfil.push(f(e.dist_filament));
                    dnode.push(f(e.dist_node));
                    dens.push(f(e.density));
                    sig.push(s.and_then(|s| f(s.sigma)));
                    edge.push(s.and_then(|s| f(s.edge_fraction)));
                    status.push(if e.boundary { "boundary" } else { "ok" });
                }
                (reason, _) => {
                    class.push(None);
                    dfil.push(None);
                    dnode.push(None);
                    dens.push(None);
                    sig.push(None);
                    edge.push(None);
                    status.push(reason.unwrap_or("pending"));
                }
            }
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int8Array::from(class)),
            Arc::new(Float32Array::from(dfil)),
            Arc::new(Float32Array::from(dnode)),
            Arc::new(Float32Array::from(dens)),
            Arc::new(Float32Array::from(sig)),
            Arc::new(Float32Array::from(edge)),
            Arc::new(StringArray::from(status)),
        ];
        let out = replace_columns(&b, cols).map_err(|e| IngestError::Input(format!("{}: {e}", path.display())))?;
        let tmp = temporary_for(path);
        ard_store::catalog::write_parquet(&tmp, &out)?;
        commit(&tmp, path)?;
        let new = output_record(&layout, path)?;
        if let Some(mut rec) = PixelRecord::read(&layout, *pixel)? {
            for o in rec.outputs.iter_mut().filter(|o| o.path == new.path) {
                *o = new.clone();
            }
            rec.write(&layout)?;
        }
        written.insert(*pixel, new.sha256);
        report.rows += n;
        report.leaves += 1;
    }
    let state = TopologyState {
        leaves: written,
        last_run: Some(RunSummary {
            subvolumes: opts.subvolumes,
            buffer_mpc: opts.buffer_mpc,
            n_sigma: opts.web.skeleton.n_sigma,
            trim_below: opts.web.skeleton.trim_below,
            r_node: opts.web.r_node,
            r_filament: opts.web.r_filament,
            galaxies: cat.galaxies.len(),
            rows: report.rows,
            seconds: t0.elapsed().as_secs_f64(),
        }),
    };
    state.write(ard)?;
    crate::finalize(ard)?;
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
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

/// Replaces the topology columns of a leaf (by name) with `cols`, keeping every other column.
fn replace_columns(b: &RecordBatch, cols: Vec<ArrayRef>) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let specs = column_specs();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for (f, a) in b.schema().fields().iter().zip(b.columns()) {
        if !names.contains(&f.name().as_str()) {
            fields.push(f.clone());
            arrays.push(a.clone());
        }
    }
    for (s, a) in specs.iter().zip(cols) {
        fields.push(Arc::new(s.field()));
        arrays.push(a);
    }
    let meta = b.schema().metadata().clone();
    RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, meta)), arrays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_as_cubic_as_possible() {
        assert_eq!(grid_for(8, [100.0, 100.0, 100.0]), [2, 2, 2]);
        assert_eq!(grid_for(1, [1.0, 5.0, 9.0]), [1, 1, 1]);
        assert_eq!(grid_for(4, [10.0, 10.0, 100.0]), [1, 1, 4]);
        assert_eq!(grid_for(6, [60.0, 60.0, 120.0]).iter().product::<usize>(), 6);
    }
}
