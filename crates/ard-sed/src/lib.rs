//! `ard-sed` owns physics layer II: a Bayesian fit of each DESI spectrum with stellar
//! population models — E-MILES SSPs, a parametric star-formation history, Calzetti
//! dust, a calibration polynomial and a noise scale ([`model`]) — sampled with the
//! project's nested sampler (`nested-sampler`), giving posterior percentiles of the
//! surviving stellar mass, the SFR over the last 100 Myr, dust and mass-weighted age
//! ([`fit`]). The templates are broadened to the physics layer's σ* where it is trusted
//! (`vel_disp_ok`; ingest passes it on), else to 100 km/s. [M/H] has a mass–metallicity
//! prior (Gallazzi et al. 2005 as in Leja et al. 2019; [`prior`]). Cosmology: flat ΛCDM, Planck 2018 (`ard_core::cosmology::PLANCK18`);
//! IMF: that of the E-MILES set used (unimodal slope 1.30, i.e. Salpeter; Padova00
//! isochrones, baseFe — the set in the pPXF sdist), recorded in the catalogue metadata.
//!
//! Written from the papers (Carnall et al. 2018 for the model; Skilling 2006 and Feroz &
//! Hobson 2008 for the sampler), not from Bagpipes' GPL code.
#![deny(missing_docs)]

pub mod fit;
pub mod model;
pub mod prior;
mod stage;

pub use fit::{fit, widen, SedConfig, SedResult, SfhFamily, SystematicFloor};
pub use model::{good_pixels, ObservedLibrary, Params, Unfit};
pub use prior::MetallicityPrior;
pub use stage::{aperture_ratio, aperture_ratios, SedStage, SedStatus};
