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

pub(crate) fn truth_error(path: &Path, message: impl Into<String>) -> ValidateError {
    ValidateError::Truth { path: path.to_path_buf(), message: message.into() }
}
