//! One sub-volume: the galaxies of its cell and buffer, the tessellation, density and
//! skeleton of `ard-topology`, and its result files under `topology/n<N>/`
//! (`sub-<i>.parquet` environments, `skeleton-<i>.parquet` the part of the skeleton
//! its cell owns, `sub-<i>.json` the report), each written atomically.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ard_core::names;
use ard_core::web::WebClass;
use ard_store::atomic::{commit, temporary_for, write_atomic};
use ard_store::catalog::Columns;
use ard_topology::web::{segments, Segment, SegmentIndex};
use ard_topology::{analyse, classify, Cells};
use arrow_array::{ArrayRef, Int8Array, RecordBatch, StringArray};
use serde::{Deserialize, Serialize};

use super::catalogue::Galaxy;
use super::{TopologyOptions, TOPOLOGY_DIR};
use crate::IngestError;

/// Environment of one galaxy from its sub-volume.
#[derive(Debug, Clone, Copy)]
pub(super) struct Env {
    pub web_class: WebClass,
    pub dist_filament: f64,
    pub dist_node: f64,
    pub density: f64,
    pub boundary: bool,
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
    /// [`run_fingerprint`](super::run_fingerprint) of the catalogue and settings it was computed from.
    #[serde(default)]
    pub fingerprint: String,
}

/// The part of a sub-volume's skeleton its cell owns: segments whose midpoint and
/// nodes that lie in the cell.
#[derive(Debug, Clone, Default)]
pub(super) struct OwnedSkeleton {
    pub segments: Vec<Segment>,
    pub nodes: Vec<[f64; 3]>,
}

type SubResult = (Vec<(usize, Env)>, OwnedSkeleton, SubvolumeReport);

/// Computes sub-volume `i` and writes its result, tagged with `fingerprint`.
pub(super) fn compute(
    ard: &Path,
    gal: &[Galaxy],
    cells: &Cells,
    i: usize,
    opts: &TopologyOptions,
    fingerprint: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<SubvolumeReport, IngestError> {
    let (env, skel, mut rep) = subvolume(gal, cells, i, opts)?;
    rep.fingerprint = fingerprint.to_string();
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
    write_sub(ard, opts.subvolumes, i, gal, &env, &skel, &rep)?;
    Ok(rep)
}

fn subvolume(gal: &[Galaxy], cells: &Cells, i: usize, opts: &TopologyOptions) -> Result<SubResult, IngestError> {
    let t0 = Instant::now();
    let members: Vec<usize> = (0..gal.len()).filter(|&g| cells.in_extended(i, &gal[g].pos, opts.buffer_mpc)).collect();
    let owned: Vec<usize> = members.iter().copied().filter(|&g| cells.cell_of(&gal[g].pos) == i).collect();
    let mut report = SubvolumeReport { index: i, owned: owned.len(), points: members.len(), ..Default::default() };
    if owned.is_empty() {
        return Ok((Vec::new(), OwnedSkeleton::default(), report));
    }
    if members.len() < 5 {
        let env = Env { web_class: WebClass::Void, dist_filament: f64::NAN, dist_node: f64::NAN, density: f64::NAN, boundary: true };
        return Ok((owned.into_iter().map(|g| (g, env)).collect(), OwnedSkeleton::default(), report));
    }
    let points: Vec<[f64; 3]> = members.iter().map(|&g| gal[g].pos).collect();
    let va = analyse(&points, &opts.web).map_err(|source| IngestError::Tessellation { subvolume: i, source })?;
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

pub(super) fn skeleton_path(ard: &Path, n: usize, i: usize) -> PathBuf {
    ard.join(TOPOLOGY_DIR).join(format!("n{n}")).join(format!("skeleton-{i}.parquet"))
}

pub(super) fn read_skeleton(ard: &Path, n: usize, i: usize, into: &mut OwnedSkeleton) -> Result<(), IngestError> {
    let path = skeleton_path(ard, n, i);
    let b = ard_store::catalog::read_parquet(&path)?;
    let cols = Columns::new(&path, &b);
    let kind = cols.i8("kind")?;
    let c = |name: &str| -> Result<Vec<f64>, IngestError> { Ok(cols.f64(name)?.values().to_vec()) };
    let (ax, ay, az, bx, by, bz) = (c("ax")?, c("ay")?, c("az")?, c("bx")?, c("by")?, c("bz")?);
    let boundary = cols.bool("boundary")?;
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

pub(super) fn sub_path(ard: &Path, n: usize, i: usize) -> PathBuf {
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
    .map_err(|e| ard_store::StoreError::arrow(format!("skeleton of sub-volume {i}"), e))?;
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
        ("web_class", Arc::new(Int8Array::from(env.iter().map(|(_, e)| e.web_class.code()).collect::<Vec<_>>()))),
        ("dist_filament", Arc::new(arrow_array::Float64Array::from(env.iter().map(|(_, e)| e.dist_filament).collect::<Vec<_>>()))),
        ("dist_node", Arc::new(arrow_array::Float64Array::from(env.iter().map(|(_, e)| e.dist_node).collect::<Vec<_>>()))),
        ("density_dtfe", Arc::new(arrow_array::Float64Array::from(env.iter().map(|(_, e)| e.density).collect::<Vec<_>>()))),
        ("boundary", Arc::new(arrow_array::BooleanArray::from(env.iter().map(|(_, e)| e.boundary).collect::<Vec<_>>()))),
    ])
    .map_err(|e| ard_store::StoreError::arrow(format!("result of sub-volume {i}"), e))?;
    let tmp = temporary_for(&path);
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| ard_store::StoreError::io(d, e))?;
    }
    ard_store::catalog::write_parquet(&tmp, &batch)?;
    commit(&tmp, &path)?;
    let json =
        serde_json::to_vec_pretty(report).map_err(|source| ard_store::StoreError::Corrupt { path: path.with_extension("json"), source })?;
    write_atomic(&path.with_extension("json"), &json)?;
    Ok(())
}

pub(super) type EnvByKey = HashMap<(i64, String, String), Env>;

pub(super) fn read_sub(ard: &Path, n: usize, i: usize) -> Result<EnvByKey, IngestError> {
    let path = sub_path(ard, n, i);
    if !path.exists() {
        return Err(IngestError::NoSubvolumeResult { path, ard: ard.to_path_buf(), index: i, count: n });
    }
    let b = ard_store::catalog::read_parquet(&path)?;
    let c = Columns::new(&path, &b);
    let (ids, sv, pg, wc) = (c.i64(names::TARGETID)?, c.str(names::SURVEY)?, c.str(names::PROGRAM)?, c.i8(names::WEB_CLASS)?);
    let (df, dn, de, bd) = (c.f64("dist_filament")?, c.f64("dist_node")?, c.f64("density_dtfe")?, c.bool("boundary")?);
    (0..b.num_rows())
        .map(|r| {
            let code = wc.value(r);
            let web_class = WebClass::from_code(i64::from(code)).ok_or_else(|| IngestError::BadValue {
                path: path.clone(),
                row: r,
                column: names::WEB_CLASS,
                value: code.to_string(),
            })?;
            Ok((
                (ids.value(r), sv.value(r).to_string(), pg.value(r).to_string()),
                Env { web_class, dist_filament: df.value(r), dist_node: dn.value(r), density: de.value(r), boundary: bd.value(r) },
            ))
        })
        .collect()
}
