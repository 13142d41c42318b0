//! `ard-store` owns the ARD on disk: the HATS Parquet catalogue (object catalogue,
//! margin cache, collection), the exposures table, the HDF5 spectra, the manifest,
//! and the atomic-commit discipline that makes every pixel's outputs all-or-nothing.
//!
//! * [`layout`] — where everything lives;
//! * [`catalog`] — leaves: `_healpix_29`, sorting, Parquet writing;
//! * [`hats`] — HATS metadata files and the margin cache;
//! * [`spectra`] — HDF5 spectra per pixel, random access by TARGETID;
//! * [`manifest`] — per-pixel records of inputs, outputs, code and configuration;
//! * [`atomic`] — temporary-then-rename writes.
//!
//! It knows nothing of DESI files or of how columns are computed.
#![deny(missing_docs)]

pub mod atomic;
pub mod catalog;
pub mod hats;
pub mod layout;
pub mod manifest;
pub mod spectra;

use std::path::{Path, PathBuf};

pub use layout::ArdLayout;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// File-system error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Parquet error.
    #[error("{path}: parquet: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The message.
        message: String,
    },
    /// Arrow error.
    #[error("arrow: {0}")]
    Arrow(String),
    /// HDF5 error.
    #[error("{path}: HDF5: {message}")]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// The message.
        message: String,
    },
    /// FITS error (sky maps).
    #[error("FITS: {0}")]
    Fits(String),
    /// Data that does not fit the expected schema.
    #[error("{0}")]
    Schema(String),
    /// A record that cannot be parsed.
    #[error("{path}: corrupt: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The message.
        message: String,
    },
}

impl StoreError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io { path: path.to_path_buf(), source }
    }
    /// A Parquet error on `path`.
    pub fn parquet(path: &Path, e: impl std::fmt::Display) -> Self {
        StoreError::Parquet { path: path.to_path_buf(), message: e.to_string() }
    }
    /// An Arrow error.
    pub fn arrow(e: impl std::fmt::Display) -> Self {
        StoreError::Arrow(e.to_string())
    }
}
