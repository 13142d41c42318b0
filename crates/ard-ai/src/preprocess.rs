//! SpecFormer's input preprocessing (AstroCLIP `SpecFormer.preprocess`): per spectrum,
//! standardise by the mean and the Bessel-corrected standard deviation (floored at 0.2),
//! cut 20-pixel windows at stride 10 (the last window dropped), left-pad each with two
//! zeros, and prepend a statistics token [(mean − 2)/2, (std − 2)/8, 0, …].
//!
//! The statistics and the standardisation are computed in f64 and rounded to f32 once:
//! with a large flux offset, f32 accumulation moves every token by ~1e-3.

/// Pixels of the DESI camera-merged grid the model takes.
pub const NPIX: usize = 7781;
/// Window length.
pub const WINDOW: usize = 20;
/// Window stride.
pub const STRIDE: usize = 10;
/// Zeros padded in front of each window.
pub const PAD: usize = 2;
/// Features per token.
pub const FEATURES: usize = WINDOW + PAD;
/// Lower bound on the standard deviation.
pub const STD_FLOOR: f64 = 0.2;

/// Number of tokens for `npix` input pixels (778 for DESI: 777 windows + statistics).
/// Upstream unfolds starts 0, 10, …, 7770 and drops the last, i.e. keeps the windows
/// that fit entirely: starts 0 … 7760, pixels 0–7779.
pub fn n_tokens(npix: usize) -> usize {
    (npix - WINDOW) / STRIDE + 1 + 1
}

/// Tokens of one spectrum, row-major `n_tokens × 22`.
pub fn tokens(flux: &[f32]) -> Vec<f32> {
    let n = flux.len();
    let mean = flux.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let var = flux.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
    let std = var.sqrt().max(STD_FLOOR);
    let nt = n_tokens(n);
    let mut out = vec![0f32; nt * FEATURES];
    out[0] = ((mean - 2.0) / 2.0) as f32;
    out[1] = ((std - 2.0) / 8.0) as f32;
    for w in 0..nt - 1 {
        let start = w * STRIDE;
        let row = &mut out[(w + 1) * FEATURES..(w + 2) * FEATURES];
        for (j, slot) in row[PAD..].iter_mut().enumerate() {
            *slot = ((flux[start + j] as f64 - mean) / std) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desi_grid_gives_778_tokens() {
        assert_eq!(n_tokens(NPIX), 778);
        let flux: Vec<f32> = (0..NPIX).map(|i| (i % 13) as f32).collect();
        let t = tokens(&flux);
        assert_eq!(t.len(), 778 * 22);
        // The last window starts at 7760 (7770 is dropped): pixel 7779 is its last.
        assert_eq!(&t[777 * 22..777 * 22 + 2], &[0.0, 0.0]);
    }
}
