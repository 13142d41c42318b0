//! The one error type of `ard-fits`: every variant names the file and, where it
//! applies, the HDU, so a user reading a log knows which input to look at.

use std::path::PathBuf;

/// Everything that can go wrong reading or writing a FITS file.
#[derive(Debug, thiserror::Error)]
pub enum FitsError {
    /// cfitsio itself reported a failure (I/O, truncated file, bad header, ...).
    #[error("{path}{}: {context}: cfitsio status {status} ({message})", hdu_suffix(.hdu))]
    Cfitsio {
        /// The file being read or written.
        path: PathBuf,
        /// The HDU (EXTNAME) current when the failure happened, if known.
        hdu: Option<String>,
        /// What this crate was doing.
        context: String,
        /// cfitsio's status code.
        status: i32,
        /// cfitsio's text for the status, plus its error-stack messages.
        message: String,
    },
    /// The file is not FITS at all (empty, or other bytes where the primary header goes).
    #[error("{path}: not a FITS file: {reason}")]
    NotFits {
        /// The file.
        path: PathBuf,
        /// What its first bytes are instead.
        reason: String,
    },
    /// An HDU looked up by EXTNAME is not in the file.
    #[error("{path}: no HDU with EXTNAME '{extname}' (the file has: {})", .available.join(", "))]
    MissingHdu {
        /// The file.
        path: PathBuf,
        /// The EXTNAME asked for.
        extname: String,
        /// The EXTNAMEs the file does have.
        available: Vec<String>,
    },
    /// The HDU is of the wrong kind (an image where a table was expected, ...).
    #[error("{path}[{hdu}]: expected {expected}, found {found}")]
    WrongHduType {
        /// The file.
        path: PathBuf,
        /// The HDU's EXTNAME.
        hdu: String,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// Data handed to a writer cannot be represented in FITS, or arguments disagree.
    #[error("{path}{}: {message}", hdu_suffix(.hdu))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The HDU, if known.
        hdu: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A file operation around cfitsio failed (replacing an existing file).
    #[error("{path}: {context}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        context: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The columns read from a table HDU do not make an Arrow table.
    #[error("{path}{}: {context}", hdu_suffix(.hdu))]
    Arrow {
        /// The file.
        path: PathBuf,
        /// The HDU, if known.
        hdu: Option<String>,
        /// What was being done.
        context: &'static str,
        /// Arrow's error.
        #[source]
        source: arrow_schema::ArrowError,
    },
}

impl FitsError {
    /// The HDU the error is about, when it names one.
    pub fn hdu(&self) -> Option<&str> {
        match self {
            FitsError::Cfitsio { hdu, .. } | FitsError::Invalid { hdu, .. } | FitsError::Arrow { hdu, .. } => hdu.as_deref(),
            FitsError::MissingHdu { extname, .. } => Some(extname),
            FitsError::WrongHduType { hdu, .. } => Some(hdu),
            FitsError::NotFits { .. } | FitsError::Io { .. } => None,
        }
    }
}

fn hdu_suffix(hdu: &Option<String>) -> String {
    match hdu {
        Some(h) => format!("[{h}]"),
        None => String::new(),
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, FitsError>;
