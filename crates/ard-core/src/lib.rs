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
//! * [`columns`] — null-aware typed reads of the FIBERMAP and redshift columns stages use.
//!
//! It depends on nothing of ours; everything else depends on it.
#![deny(missing_docs)]

pub mod columns;
pub mod cosmology;
pub mod grid;
pub mod linalg;
pub mod special;
pub mod spectrum;
pub mod stage;
pub mod wavelength;

pub use spectrum::SpectrumBatch;
pub use stage::{ColumnSpec, Stage, StageError, StageRef};
