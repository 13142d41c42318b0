//! `ard-validate` owns the statistical validation of the ARD's layers against the
//! simulator's truth: it simulates a DESI-format sample with `desi-sim`, reads it back
//! with `desi-io` exactly as ingest does, runs a layer, and compares each object with
//! `truth/truth.parquet`. The test suite runs it on tens of objects; `desi-ard
//! validate <layer>` runs it on hundreds (release build) and prints the table that
//! goes in `VALIDATION.md`.
#![deny(missing_docs)]

pub mod embedding;
pub mod physics;
pub mod sed;

use std::path::{Path, PathBuf};

/// Errors of a validation run.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// The simulator failed.
    #[error(transparent)]
    Sim(#[from] desi_sim::SimError),
    /// Reading the simulated files failed.
    #[error(transparent)]
    Read(#[from] desi_io::DesiIoError),
    /// The truth table is unreadable or lacks a column.
    #[error("{path}: {message}")]
    Truth {
        /// The truth file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The truth table could not be opened.
    #[error("{}", path.display())]
    TruthIo {
        /// The truth file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The truth table is not readable Parquet.
    #[error("{}", path.display())]
    TruthParquet {
        /// The truth file.
        path: PathBuf,
        /// Why.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The truth table's batches could not be decoded.
    #[error("{}", path.display())]
    TruthArrow {
        /// The truth file.
        path: PathBuf,
        /// Why.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// The ARD's similarity index could not be loaded or searched.
    #[error(transparent)]
    Search(#[from] ard_search::SearchError),
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, ValidateError>;

/// Every batch of the truth table at `path`.
pub(crate) fn truth_batches(path: &Path) -> Result<Vec<arrow_array::RecordBatch>> {
    let file = std::fs::File::open(path).map_err(|source| ValidateError::TruthIo { path: path.to_path_buf(), source })?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|source| ValidateError::TruthParquet { path: path.to_path_buf(), source })?;
    reader.map(|b| b.map_err(|source| ValidateError::TruthArrow { path: path.to_path_buf(), source })).collect()
}

/// Typed columns of one truth-table batch: a missing column or another type is an
/// error naming the file and the column.
pub(crate) struct TruthColumns<'a> {
    pub path: &'a Path,
    pub batch: &'a arrow_array::RecordBatch,
}

impl<'a> TruthColumns<'a> {
    fn typed<A: 'static>(&self, name: &str, what: &str) -> Result<&'a A> {
        let c = self.batch.column_by_name(name).ok_or_else(|| truth_error(self.path, format!("no column {name}")))?;
        c.as_any().downcast_ref::<A>().ok_or_else(|| truth_error(self.path, format!("{name} is not {what}")))
    }
    /// An Int64 column.
    pub fn i64(&self, name: &str) -> Result<&'a arrow_array::Int64Array> {
        self.typed(name, "int64")
    }
    /// A Float32 column.
    pub fn f32(&self, name: &str) -> Result<&'a arrow_array::Float32Array> {
        self.typed(name, "float32")
    }
    /// A Float64 column.
    pub fn f64(&self, name: &str) -> Result<&'a arrow_array::Float64Array> {
        self.typed(name, "float64")
    }
    /// A string column.
    pub fn str(&self, name: &str) -> Result<&'a arrow_array::StringArray> {
        self.typed(name, "a string")
    }
}

pub(crate) fn truth_error(path: &Path, message: impl Into<String>) -> ValidateError {
    ValidateError::Truth { path: path.to_path_buf(), message: message.into() }
}
