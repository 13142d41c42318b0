//! Names of the catalogue columns that one layer writes and another reads. The writer's
//! column spec and every reader use these constants, so renaming a column renames it
//! everywhere, and removing one breaks the build instead of silently the science.

/// TARGETID.
pub const TARGETID: &str = "targetid";
/// Survey of the coadd.
pub const SURVEY: &str = "survey";
/// Program of the coadd.
pub const PROGRAM: &str = "program";
/// TARGET_RA, degrees.
pub const TARGET_RA: &str = "target_ra";
/// TARGET_DEC, degrees.
pub const TARGET_DEC: &str = "target_dec";
/// Redshift.
pub const Z: &str = "z";
/// Redrock warning bits.
pub const ZWARN: &str = "zwarn";
/// Redrock spectral type.
pub const SPECTYPE: &str = "spectype";
/// DESI's primary-spectrum flag of a TARGETID.
pub const ZCAT_PRIMARY: &str = "zcat_primary";
/// Stellar velocity dispersion (physics layer), read by the SED fit.
pub const VEL_DISP: &str = "vel_disp";
/// Whether `vel_disp` is constrained (physics layer), read by the SED fit.
pub const VEL_DISP_OK: &str = "vel_disp_ok";
/// Median stellar mass (SED layer), read by the quenching workflow.
pub const LOGM_P50: &str = "logm_p50";
/// Median SFR (SED layer), read by the quenching workflow.
pub const LOGSFR_P50: &str = "logsfr_p50";
/// Cosmic-web class (topology layer), read by the workflows.
pub const WEB_CLASS: &str = "web_class";

/// The physics fit's best model spectrum (stars + gas, as observed), an HDF5 dataset
/// of the pixel's spectra file, read by the spectrum lookup and plots.
pub const MODEL: &str = "model";
/// The physics fit's emission-line model alone, an HDF5 dataset like [`MODEL`].
pub const MODEL_LINES: &str = "model_lines";
/// The pixels the physics fit used (1) on the brz grid, an HDF5 dataset like [`MODEL`].
pub const FIT_MASK: &str = "fit_mask";
