//! The camera-merged DESI wavelength grid.
//!
//! DESI's three spectrograph arms (b, r, z) are extracted on 0.8 Å grids that share
//! pixel centres: b 3600–5800 Å, r 5760–7620 Å, z 7520–9824 Å (vacuum). desispec's
//! `coadd_cameras` joins them into one "brz" grid, which is the input format of the
//! AI layer's models and of the ARD's spectra files.

/// First pixel centre of the brz grid, Å (vacuum).
pub const BRZ_WAVE_MIN: f64 = 3600.0;
/// Pixel width of the brz grid, Å.
pub const BRZ_DWAVE: f64 = 0.8;
/// Number of pixels of the brz grid: (9824 − 3600) / 0.8 + 1.
pub const BRZ_NWAVE: usize = 7781;
/// Number of diagonals of DESI resolution matrices (offsets +5 … −5).
pub const RESOLUTION_NDIAG: usize = 11;

/// The brz grid's pixel centres, Å (vacuum).
///
/// ```
/// let w = ard_core::grid::brz_wavelength();
/// assert_eq!(w.len(), 7781);
/// assert!((w[7780] - 9824.0).abs() < 1e-9);
/// ```
pub fn brz_wavelength() -> Vec<f64> {
    (0..BRZ_NWAVE).map(|i| BRZ_WAVE_MIN + BRZ_DWAVE * i as f64).collect()
}

/// Index of the brz pixel whose centre is nearest `wave` (Å), if on the grid.
pub fn brz_index(wave: f64) -> Option<usize> {
    let x = ((wave - BRZ_WAVE_MIN) / BRZ_DWAVE).round();
    (x >= 0.0 && x < BRZ_NWAVE as f64).then_some(x as usize)
}
