//! The stage interface: how a per-object layer plugs into ingest.
//!
//! A [`Stage`] declares the columns it adds ([`ColumnSpec`]: name, Arrow type, unit,
//! description — the same specs generate `docs/schema.md`) and computes them for a
//! [`SpectrumBatch`], one row per object. An object it cannot handle gets nulls and a
//! reason in the stage's own `<name>_status` column rather than an error, so one bad
//! object never loses the others; an `Err` means the whole batch failed (the pixel is
//! then recorded as failed and retried on the next run). Stages are pure functions of
//! their inputs and configuration: a re-run writes the same bytes.

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field};

use crate::SpectrumBatch;

/// One output column of a stage.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// Column name (lower-case snake_case).
    pub name: String,
    /// Arrow type.
    pub data_type: DataType,
    /// Unit (empty for dimensionless).
    pub unit: String,
    /// One-line description, including the source of the value.
    pub description: String,
    /// Whether nulls may occur.
    pub nullable: bool,
}

impl ColumnSpec {
    /// A column spec.
    pub fn new(name: &str, data_type: DataType, unit: &str, description: &str) -> Self {
        ColumnSpec { name: name.into(), data_type, unit: unit.into(), description: description.into(), nullable: true }
    }
    /// The Arrow field, with `unit` and `description` as field metadata.
    pub fn field(&self) -> Field {
        let mut meta = std::collections::HashMap::new();
        if !self.unit.is_empty() {
            meta.insert("unit".to_string(), self.unit.clone());
        }
        meta.insert("description".to_string(), self.description.clone());
        Field::new(&self.name, self.data_type.clone(), self.nullable).with_metadata(meta)
    }
}

/// A stage failed on a whole batch.
#[derive(Debug, Clone, thiserror::Error)]
#[error("stage {stage}: {message}")]
pub struct StageError {
    /// The stage.
    pub stage: String,
    /// What went wrong.
    pub message: String,
}

/// A per-object layer run by ingest (see the module docs).
pub trait Stage: Send + Sync {
    /// Short name, used in the manifest and for the `<name>_status` column.
    fn name(&self) -> &str;
    /// Version of the algorithm and its configuration; a change re-processes pixels.
    fn version(&self) -> String;
    /// The columns added, in order.
    fn columns(&self) -> Vec<ColumnSpec>;
    /// Computes the columns for every object of `batch`, in order, one row each.
    fn compute(&self, batch: &SpectrumBatch) -> Result<Vec<ArrayRef>, StageError>;

    /// As [`Stage::compute`], also given the catalogue columns already computed for the
    /// batch (core columns and earlier stages', same rows): a stage that can use an
    /// earlier layer's result (the SED fit uses the physics layer's velocity dispersion)
    /// overrides this; by default it is ignored.
    fn compute_with(&self, batch: &SpectrumBatch, _earlier: &arrow_array::RecordBatch) -> Result<Vec<ArrayRef>, StageError> {
        self.compute(batch)
    }
}

/// A shared stage.
pub type StageRef = Arc<dyn Stage>;
