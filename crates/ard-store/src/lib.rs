//! `ard-store` owns the ARD on disk: the HATS Parquet catalogue (object catalogue,
//! margin cache, collection), the exposures table, the HDF5 spectra, the manifest,
//! and the atomic-commit discipline that makes every pixel's outputs all-or-nothing.
//!
//! * [`layout`] — where everything lives;
//! * [`catalog`] — leaves: `_healpix_29`, sorting, Parquet writing;
//! * [`hats`] — HATS metadata files and the margin cache;
//! * [`spectra`] — HDF5 spectra per pixel, random access by TARGETID;
//! * [`manifest`] — per-pixel records of inputs, outputs, code and configuration;
//! * [`pixel`] — a pixel's version and its commit: one rename switches a pixel;
//! * [`atomic`] — temporary-then-rename writes.
//!
//! It knows nothing of DESI files or of how columns are computed.
#![deny(missing_docs)]

pub mod atomic;
pub mod catalog;
pub mod hats;
pub mod layout;
pub mod manifest;
pub mod pixel;
pub mod spectra;

use std::path::{Path, PathBuf};

pub use layout::ArdLayout;

/// Errors of the store. Each names the file; the error it wraps is kept as `source()`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// File-system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Reading or writing a Parquet file failed.
    #[error("{}: {source}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The error.
        source: parquet::errors::ParquetError,
    },
    /// An Arrow kernel (take, concat, a record batch) failed.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being built.
        context: String,
        /// The error.
        source: arrow_schema::ArrowError,
    },
    /// Reading or writing an HDF5 file failed.
    #[error("{}: {source}", path.display())]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// The error.
        source: hdf5::Error,
    },
    /// Writing a FITS sky map failed.
    #[error(transparent)]
    Fits(#[from] ard_fits::FitsError),
    /// Data handed to a writer do not fit its layout.
    #[error("{}: {message}", path.display())]
    Layout {
        /// The file being written.
        path: PathBuf,
        /// What does not fit.
        message: String,
    },
    /// A column of a file is missing or of another type than the reader needs.
    #[error("{}: column {column}: expected {expected}, {}", path.display(), found.as_ref().map_or("but there is no such column".to_string(), |t| format!("found {t}")))]
    Column {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The type the reader needs.
        expected: &'static str,
        /// The type found (`None`: no such column).
        found: Option<arrow_schema::DataType>,
    },
    /// A JSON record (manifest, state) that cannot be parsed or written.
    #[error("{}: not a valid record: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The error.
        source: serde_json::Error,
    },
}

impl StoreError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io { path: path.to_path_buf(), source }
    }
    /// A Parquet error on `path`.
    pub fn parquet(path: &Path, source: parquet::errors::ParquetError) -> Self {
        StoreError::Parquet { path: path.to_path_buf(), source }
    }
    /// An Arrow error while building `context`.
    pub fn arrow(context: impl Into<String>, source: arrow_schema::ArrowError) -> Self {
        StoreError::Arrow { context: context.into(), source }
    }
}
