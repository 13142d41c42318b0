//! One module per `desi-ard` command: its arguments (a clap struct) and `run`, which
//! calls the library crates and prints. `main` only parses and dispatches.

pub mod cluster;
pub mod demo;
pub mod finalize;
pub mod fit;
pub mod info;
pub mod ingest;
pub mod read;
pub mod schema;
pub mod setup_templates;
pub mod similar;
pub mod simulate;
pub mod spectrum;
pub mod sql;
pub mod topology;
pub mod validate;
pub mod workflow;

/// Some pixels or input files failed (the others were written): exit status 3, which
/// the cluster chain counts as done so one bad file does not hold back the catalogue.
#[derive(Debug)]
pub struct PixelsFailed(pub usize);

impl PixelsFailed {
    /// The exit status.
    pub const EXIT_CODE: i32 = 3;
}

impl std::fmt::Display for PixelsFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} pixels or input files failed (see above and ARD/manifest)", self.0)
    }
}

impl std::error::Error for PixelsFailed {}
