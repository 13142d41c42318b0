//! `ard-core` owns the types and conventions every desi-ard crate shares:
//!
//! * [`grid`] — the camera-merged DESI "brz" wavelength grid (3600–9824 Å at 0.8 Å,
//!   7,781 pixels, vacuum), the grid AstroCLIP and the ARD's spectra use;
//! * [`spectrum`] — [`SpectrumBatch`], the camera-merged spectra of one input file
//!   with their FIBERMAP and redshift rows, as handed from the reader to the stages;
//! * [`wavelength`] — vacuum ↔ air conversion (DESI is vacuum; Lick bands, E-MILES
//!   and classic line lists are air);
//! * [`cosmology`] — the one cosmology of the project, flat ΛCDM Planck 2018;
//! * [`stage`] — the interface every per-object layer implements;
//! * [`linalg`] — small dense linear algebra (Cholesky, Jacobi eigen) for per-object fits;
//! * [`columns`] — null-aware typed reads of the FIBERMAP and redshift columns stages use;
//! * [`names`] — the catalogue columns one layer writes and another reads;
//! * [`eligibility`] — the one rule of which objects a layer fits, and its reason codes;
//! * [`constants`] — physical constants shared by the layers;
//! * [`dust`] — Milky-Way extinction (Fitzpatrick 1999, as desiutil applies it);
//! * [`special`] — special functions (the one erf/erfc, normal CDF and quantile);
//! * [`rng`] — the one pseudo-random generator (xoshiro256**, splitmix64 seeding);
//! * [`web`] — the cosmic-web classes of `web_class`;
//! * [`error`] — an error and its causes as one line, each part once.
//!
//! It depends on nothing of ours; everything else depends on it.
#![deny(missing_docs)]

pub mod columns;
pub mod constants;
pub mod cosmology;
pub mod dust;
pub mod eligibility;
pub mod error;
pub mod grid;
pub mod linalg;
pub mod names;
pub mod rng;
pub mod special;
pub mod spectrum;
pub mod stage;
pub mod wavelength;
pub mod web;

pub use spectrum::SpectrumBatch;

/// The user's desi-ard cache folder: `$DESI_ARD_CACHE`, else `$XDG_CACHE_HOME/desi-ard`,
/// else `$HOME/.cache/desi-ard` — where set-up keeps the converted templates and readers
/// keep what they derive from an ARD (never inside the ARD, which may be read-only and
/// shared).
pub fn cache_dir() -> std::path::PathBuf {
    use std::path::PathBuf;
    if let Some(p) = std::env::var_os("DESI_ARD_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("desi-ard");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("desi-ard")
}
pub use stage::{status_spec, ColumnSpec, GridArraySpec, ObjectNote, Stage, StageError, StageOutput, StageRef, StatusCode};
