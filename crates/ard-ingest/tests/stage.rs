//! A stage plugs into ingest through the `Stage` interface: its declared columns
//! appear in the catalogue with their units, one row per object, and a change of its
//! version re-processes the pixels. Issue 3, "design that interface now".

use std::path::Path;
use std::sync::Arc;

use ard_core::{ColumnSpec, SpectrumBatch, Stage, StageError, StageOutput};
use arrow_array::{ArrayRef, Float32Array, StringArray};
use arrow_schema::DataType;

/// Median of flux over pixels with ivar > 0 — a stand-in for a physics layer.
struct MedianFlux {
    version: &'static str,
}

impl Stage for MedianFlux {
    fn name(&self) -> &str {
        "medflux"
    }
    fn version(&self) -> String {
        self.version.into()
    }
    fn columns(&self) -> Vec<ColumnSpec> {
        vec![
            ColumnSpec::new("median_flux", DataType::Float32, "1e-17 erg/s/cm2/Angstrom", "median flux of good pixels (test stage)"),
            ColumnSpec::new("medflux_status", DataType::Utf8, "", "reason code: ok, or why the value is null"),
        ]
    }
    fn compute(&self, batch: &SpectrumBatch) -> Result<StageOutput, StageError> {
        let mut med = Vec::new();
        let mut status = Vec::new();
        for i in 0..batch.len() {
            let mut v: Vec<f32> = batch.flux_of(i).iter().zip(batch.ivar_of(i)).filter(|(_, &w)| w > 0.0).map(|(&f, _)| f).collect();
            if v.is_empty() {
                med.push(None);
                status.push("no_good_pixels");
            } else {
                v.sort_by(f32::total_cmp);
                med.push(Some(v[v.len() / 2]));
                status.push("ok");
            }
        }
        Ok(vec![Arc::new(Float32Array::from(med)) as ArrayRef, Arc::new(StringArray::from(status))].into())
    }
}

#[test]
fn a_stage_adds_its_columns_and_its_version_drives_reprocessing() {
    let raw = tempfile::tempdir().unwrap();
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/desi");
    for f in ["coadd-main-dark-9999.fits", "redrock-main-dark-9999.fits"] {
        std::fs::copy(testdata.join(f), raw.path().join(f)).unwrap();
    }
    let ard = tempfile::tempdir().unwrap();
    let mut opts = ard_ingest::IngestOptions {
        workers: 1,
        stages: vec![Arc::new(MedianFlux { version: "1" })],
        ..ard_ingest::IngestOptions::new(raw.path().to_path_buf(), ard.path().to_path_buf())
    };
    let r = ard_ingest::ingest(&opts).unwrap();
    assert_eq!((r.pixels_done, r.failed.len()), (1, 0));
    ard_ingest::finalize(ard.path()).unwrap();
    let leaf = ard_store::catalog::read_parquet(&ard_store::ArdLayout::new(ard.path()).catalog_leaf(9999)).unwrap();
    let schema = leaf.schema();
    let f = schema.field_with_name("median_flux").unwrap();
    assert_eq!(f.metadata().get("unit").map(String::as_str), Some("1e-17 erg/s/cm2/Angstrom"));
    let col = leaf.column_by_name("median_flux").unwrap().as_any().downcast_ref::<Float32Array>().unwrap();
    // desispec-written fixture: flux = 1 + 0.1 N(0,1), so the median is close to 1.
    for i in 0..2 {
        assert!((col.value(i) - 1.0).abs() < 0.01, "{}", col.value(i));
    }
    // Same version: nothing to do. New version: the pixel is redone.
    assert_eq!(ard_ingest::ingest(&opts).unwrap().pixels_done, 0);
    opts.stages = vec![Arc::new(MedianFlux { version: "2" })];
    assert_eq!(ard_ingest::ingest(&opts).unwrap().pixels_done, 1);
}
