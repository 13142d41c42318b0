//! Errors of the DESI reader. Each names the file and the HDU or TARGETID at fault.

use std::path::PathBuf;

/// Everything that can go wrong reading DESI files.
#[derive(Debug, thiserror::Error)]
pub enum DesiIoError {
    /// The FITS layer failed (missing file or HDU, truncated data, ...).
    #[error(transparent)]
    Fits(#[from] ard_fits::FitsError),
    /// An array does not have the shape the data model requires.
    #[error("{path}[{hdu}]: shape {found:?}, expected {expected}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// The HDU.
        hdu: String,
        /// What the data model requires.
        expected: String,
        /// What the file holds.
        found: Vec<usize>,
    },
    /// A required table column is absent.
    #[error("{path}[{hdu}]: no column {column}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The HDU.
        hdu: String,
        /// The column.
        column: String,
    },
    /// A TARGETID of the coadd has no row in the redshift file.
    #[error("{path}[{hdu}]: no redshift row for TARGETID {targetid} (of {coadd})")]
    MissingRedshift {
        /// The redshift file.
        path: PathBuf,
        /// Its HDU.
        hdu: String,
        /// The TARGETID.
        targetid: i64,
        /// The coadd that has it.
        coadd: PathBuf,
    },
    /// The cameras' wavelength grids cannot be merged onto the brz grid.
    #[error("{path}: {message}")]
    Grid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Survey or program cannot be determined.
    #[error("{path}: {message}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// A one-dimensional spectrum file (`spectrum1d`) cannot be used as it is.
    #[error("{path}: {message}")]
    Spectrum1d {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what to do.
        message: String,
    },
    /// An Arrow kernel failed on a table read from the file.
    #[error("{path}: {context}")]
    Arrow {
        /// The file.
        path: PathBuf,
        /// What was being done.
        context: &'static str,
        /// Arrow's error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// A directory could not be listed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl DesiIoError {
    /// The HDU the error is about, when it names one.
    pub fn hdu(&self) -> Option<&str> {
        match self {
            DesiIoError::Fits(e) => e.hdu(),
            DesiIoError::Shape { hdu, .. } | DesiIoError::MissingColumn { hdu, .. } | DesiIoError::MissingRedshift { hdu, .. } => Some(hdu),
            DesiIoError::Grid { .. }
            | DesiIoError::Metadata { .. }
            | DesiIoError::Spectrum1d { .. }
            | DesiIoError::Arrow { .. }
            | DesiIoError::Io { .. } => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, DesiIoError>;
