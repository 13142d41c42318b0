//! The merge: every sub-volume's result read back, the skeleton stitched (each segment
//! and node counted once, by the cell that owns it), distances and classes recomputed
//! against the stitched skeleton, Σ5 over the whole catalogue, then the columns written
//! into every leaf (atomically, the leaf keeping its pixel version, manifest updated).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use ard_core::cosmology::PLANCK18;
use ard_core::StatusCode;
use ard_store::atomic::{commit, temporary_for};
use ard_store::catalog::Columns;
use ard_store::layout::ArdLayout;
use ard_store::manifest::{output_record, PixelRecord};
use ard_topology::web::SegmentIndex;
use ard_topology::{classify, sigma5, Sigma5};
use arrow_array::{ArrayRef, Float32Array, Int8Array, RecordBatch, StringArray};
use arrow_schema::Schema;

use super::catalogue::{population, Catalogue, Keys};
use super::subvolumes::{read_skeleton, read_sub, Env, EnvByKey, OwnedSkeleton};
use super::{column_specs, TopologyOptions, TopologyReport, TopologyStatus};
use crate::IngestError;

/// Merges the sub-volume results of `opts.subvolumes` into the leaves of `cat`.
pub(super) fn merge(
    ard: &Path,
    cat: &Catalogue,
    opts: &TopologyOptions,
    report: &mut TopologyReport,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), IngestError> {
    let mut env: EnvByKey = HashMap::new();
    let mut skel = OwnedSkeleton::default();
    for i in 0..opts.subvolumes {
        env.extend(read_sub(ard, opts.subvolumes, i)?);
        read_skeleton(ard, opts.subvolumes, i, &mut skel)?;
    }
    progress(&format!("stitched skeleton: {} segments, {} nodes", skel.segments.len(), skel.nodes.len()));
    stitch(cat, &mut env, skel, opts);
    progress(&format!("Σ5 over {} galaxies", cat.galaxies.len()));
    let ra: Vec<f64> = cat.galaxies.iter().map(|g| g.ra).collect();
    let dec: Vec<f64> = cat.galaxies.iter().map(|g| g.dec).collect();
    let z: Vec<f64> = cat.galaxies.iter().map(|g| g.z).collect();
    let s5 = sigma5(&PLANCK18, &ra, &dec, &z, &cat.pixels, &opts.sigma5);
    let s5_by_key: HashMap<&(i64, String, String), &Sigma5> = cat.galaxies.iter().map(|g| &g.key).zip(&s5).collect();
    let layout = ArdLayout::new(ard);
    for (pixel, path) in &cat.leaves {
        let rows = write_leaf(&layout, *pixel, path, &env, &s5_by_key, report)?;
        report.rows += rows;
        report.leaves += 1;
    }
    Ok(())
}

/// Distances and classes against the stitched skeleton, so that a galaxy near a cell
/// boundary sees the filaments on both sides; the density stays the sub-volume's.
fn stitch(cat: &Catalogue, env: &mut EnvByKey, mut skel: OwnedSkeleton, opts: &TopologyOptions) {
    let index = SegmentIndex::new(std::mem::take(&mut skel.segments));
    let members: Vec<_> = cat.galaxies.iter().filter(|g| env.contains_key(&g.key)).collect();
    let pts: Vec<[f64; 3]> = members.iter().map(|g| g.pos).collect();
    let dens: Vec<f64> = members.iter().map(|g| env[&g.key].density).collect();
    let hull: Vec<bool> = members.iter().map(|g| env[&g.key].boundary).collect();
    let mean = opts.web.background.map_or(0.0, |b| b.shells.iter().sum::<f64>() / b.shells.len() as f64);
    let stitched = classify(&pts, &dens, &hull, &index, &skel.nodes, mean, &opts.web);
    for (g, e) in members.iter().zip(&stitched) {
        if let Some(old) = env.get_mut(&g.key) {
            let web_class = if old.density.is_finite() { e.web_class } else { old.web_class };
            *old = Env { web_class, dist_filament: e.dist_filament, dist_node: e.dist_node, density: old.density, boundary: e.boundary };
        }
    }
}

/// Writes the topology columns of one leaf; returns its rows.
fn write_leaf(
    layout: &ArdLayout,
    pixel: u64,
    path: &Path,
    env: &EnvByKey,
    s5: &HashMap<&(i64, String, String), &Sigma5>,
    report: &mut TopologyReport,
) -> Result<usize, IngestError> {
    let b = ard_store::catalog::read_parquet(path)?;
    let why = population(&b, path)?;
    let keys = Keys::of(&Columns::new(path, &b))?;
    let n = b.num_rows();
    let mut class = Vec::with_capacity(n);
    let mut dfil = Vec::with_capacity(n);
    let mut dnode = Vec::with_capacity(n);
    let mut dens = Vec::with_capacity(n);
    let mut sig = Vec::with_capacity(n);
    let mut edge = Vec::with_capacity(n);
    let mut status: Vec<&str> = Vec::with_capacity(n);
    for (i, w) in why.iter().enumerate() {
        let key = keys.at(i);
        let e = w.is_none().then(|| env.get(&key)).flatten();
        match (w, e) {
            (None, Some(e)) => {
                let s = s5.get(&key);
                let f = |v: f64| v.is_finite().then_some(v as f32);
                class.push(Some(e.web_class.code()));
                report.class_counts[e.web_class.code() as usize] += 1;
                dfil.push(f(e.dist_filament));
                dnode.push(f(e.dist_node));
                dens.push(f(e.density));
                sig.push(s.and_then(|s| f(s.sigma)));
                edge.push(s.and_then(|s| f(s.edge_fraction)));
                status.push(if e.boundary { TopologyStatus::Boundary } else { TopologyStatus::Ok }.code());
            }
            (reason, _) => {
                class.push(None);
                dfil.push(None);
                dnode.push(None);
                dens.push(None);
                sig.push(None);
                edge.push(None);
                status.push(reason.map_or(TopologyStatus::Pending, TopologyStatus::Ineligible).code());
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
    let out = replace_columns(&b, cols).map_err(|e| ard_store::StoreError::arrow(format!("{}: topology columns", path.display()), e))?;
    // The leaf keeps naming its pixel version (spectra, exposures).
    let kv = ard_store::catalog::read_key_values(path)?;
    let tmp = temporary_for(path);
    ard_store::catalog::write_parquet_with_key_values(&tmp, &out, &kv)?;
    commit(&tmp, path)?;
    let new = output_record(layout, path)?;
    if let Some(mut rec) = PixelRecord::read(layout, pixel)? {
        for o in rec.outputs.iter_mut().filter(|o| o.path == new.path) {
            *o = new.clone();
        }
        rec.write(layout)?;
    }
    report.written.insert(pixel, new.sha256);
    Ok(n)
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
