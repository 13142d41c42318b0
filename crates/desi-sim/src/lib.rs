//! `desi-sim` owns the simulator: a sample of galaxies in a mock cosmic web, with
//! spectra built from the E-MILES templates and observed through a DESI-like
//! instrument, written as a DR1-shaped healpix tree that the reader (and desispec's
//! `read_spectra`) reads like real data, plus a truth table for every later layer to
//! be tested against.
//!
//! * [`footprint`] — the survey volume (nside-64 pixels × redshift shell);
//! * [`web`] — nodes, filaments, sheets, voids with known geometry;
//! * [`galaxy`] — populations (BGS-, LRG-, ELG-like, Green Peas), star-formation
//!   histories on the SSP grid, Calzetti dust, nebular lines, truth indices;
//! * [`observe`] — σ* broadening, redshift, fibre aperture, camera resampling,
//!   resolution matrices, sky and read noise;
//! * [`lsf`] — the fibres' line-spread functions: Gaussian, or DESI's measured ones;
//! * [`nongalaxy`] — the independent mock's stars and QSOs, which the galaxy layers refuse;
//! * [`sample`] — the whole sample and the files; [`truth`] — the truth table.
//!
//! With a library other than E-MILES (`SimConfig::library`) it writes the independent
//! mock: BC03 galaxies with histories, dust, lines, DESI's measured line-spread functions and
//! instrument effects the fits do not assume (see [`galaxy::draw_independent_params`] and [`sample::Systematics`]).
//!
//! What it does not model is listed in the README (stars and QSOs only in the independent
//! mock, no redshift-space distortions, redrock not run: the redshift table is the truth
//! plus errors).
#![deny(missing_docs)]

pub mod footprint;
pub mod galaxy;
pub mod lsf;
pub mod nongalaxy;
pub mod observe;
pub mod rng;
pub mod sample;
pub mod truth;
pub mod web;

pub use sample::{simulate, SimConfig, SimSummary};

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Writing DESI files failed.
    #[error(transparent)]
    Desi(#[from] desi_io::DesiIoError),
    /// Assembling a table failed.
    #[error("building a table: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A file could not be written.
    #[error("{0}: {1}")]
    Io(std::path::PathBuf, std::io::Error),
    /// A Parquet file (the truth table) could not be written.
    #[error("writing {}", path.display())]
    Parquet {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// The library handed over is not the one the configuration asks for.
    #[error("the configuration asks for the {} library but {} was loaded", .asked.name(), .given.name())]
    Library {
        /// In [`SimConfig::library`].
        asked: ssp::Library,
        /// The loaded one.
        given: ssp::Library,
    },
    /// A JSON file could not be serialised.
    #[error("writing {}", path.display())]
    Json {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}
