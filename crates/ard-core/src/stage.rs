//! The stage interface: how a per-object layer plugs into ingest.
//!
//! A [`Stage`] declares the columns it adds ([`ColumnSpec`]: name, Arrow type, unit,
//! description — the same specs generate `docs/schema.md`) and computes them for a
//! [`SpectrumBatch`], one row per object. An object it cannot handle gets nulls and a
//! reason in the stage's own `<name>_status` column rather than an error, so one bad
//! object never loses the others; the reasons are a fixed vocabulary per layer (a type
//! implementing [`StatusCode`]), and anything free-text about one object (why a fit
//! failed) goes into [`StageOutput::notes`], which ingest keeps in the manifest. An `Err`
//! means the whole batch failed (the pixel is then recorded as failed and retried on the
//! next run). Stages are pure functions of their inputs and configuration: a re-run
//! writes the same bytes.

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

/// The fixed vocabulary of a layer's `<name>_status` column.
pub trait StatusCode {
    /// The code written for this outcome.
    fn code(&self) -> &'static str;
    /// Every code the column can hold, in the order the schema lists them.
    fn codes() -> Vec<&'static str>;
}

/// The spec of a `<layer>_status` column, its codes listed from the vocabulary.
pub fn status_spec<S: StatusCode>(name: &str, what: &str) -> ColumnSpec {
    let codes: Vec<String> = S::codes().iter().map(|c| format!("`{c}`")).collect();
    ColumnSpec::new(name, DataType::Utf8, "", &format!("{what}; one of {}", codes.join(", ")))
}

/// A free-text note on one object of a batch (kept in the manifest, not the catalogue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectNote {
    /// Row of the object in the batch.
    pub row: usize,
    /// What happened.
    pub note: String,
}

/// One per-object array on the batch's wavelength grid that a stage stores beside the
/// spectra (the physics layer's model spectrum): a dataset of the pixel's HDF5 file,
/// `N × nwave`, chunked and compressed like `flux`.
#[derive(Debug, Clone, PartialEq)]
pub struct GridArraySpec {
    /// Dataset name.
    pub name: String,
    /// Unit (empty for dimensionless).
    pub unit: String,
    /// One-line description.
    pub description: String,
    /// Stored as 0/1 bytes (a pixel mask) rather than float32.
    pub flag: bool,
}

/// What a stage computed for a batch.
#[derive(Debug, Clone, Default)]
pub struct StageOutput {
    /// Its columns, in [`Stage::columns`] order, one row per object.
    pub columns: Vec<ArrayRef>,
    /// Its grid arrays, in [`Stage::grid_arrays`] order, each `rows × nwave` (row-major,
    /// on the batch's wavelength grid); NaN (or 0 for a flag) where nothing was computed.
    pub arrays: Vec<Vec<f32>>,
    /// Notes on single objects.
    pub notes: Vec<ObjectNote>,
}

impl From<Vec<ArrayRef>> for StageOutput {
    fn from(columns: Vec<ArrayRef>) -> Self {
        StageOutput { columns, arrays: Vec::new(), notes: Vec::new() }
    }
}

/// A stage failed on a whole batch.
#[derive(Debug, thiserror::Error)]
#[error("stage {stage}: {message}")]
pub struct StageError {
    /// The stage.
    pub stage: String,
    /// What went wrong.
    pub message: String,
    /// The underlying error, when there is one.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// A per-object layer run by ingest (see the module docs).
pub trait Stage: Send + Sync {
    /// Short name, used in the manifest and for the `<name>_status` column.
    fn name(&self) -> &str;
    /// Version of the algorithm and its configuration; a change re-processes pixels.
    fn version(&self) -> String;
    /// The columns added, in order.
    fn columns(&self) -> Vec<ColumnSpec>;
    /// The per-object arrays on the wavelength grid stored with the spectra, in order
    /// (none by default).
    fn grid_arrays(&self) -> Vec<GridArraySpec> {
        Vec::new()
    }
    /// Computes the columns for every object of `batch`, in order, one row each.
    fn compute(&self, batch: &SpectrumBatch) -> Result<StageOutput, StageError>;

    /// As [`Stage::compute`], also given the catalogue columns already computed for the
    /// batch (core columns and earlier stages', same rows): a stage that can use an
    /// earlier layer's result (the SED fit uses the physics layer's velocity dispersion)
    /// overrides this; by default it is ignored.
    fn compute_with(&self, batch: &SpectrumBatch, _earlier: &arrow_array::RecordBatch) -> Result<StageOutput, StageError> {
        self.compute(batch)
    }
}

/// A shared stage.
pub type StageRef = Arc<dyn Stage>;
