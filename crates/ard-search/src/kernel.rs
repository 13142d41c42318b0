//! The inner products: Float16 rows against f32 queries, widened to f32 in registers.
//!
//! Each call scores two rows against four queries at once (a 2 × 4 register tile, as a
//! matrix-product kernel does): every row element is loaded and widened once for four
//! queries and every query element once for two rows, so a scan reads the Float16
//! matrix at memory speed and does 8 multiply-adds per widened load. On x86-64 with
//! AVX2, FMA and F16C (checked at run time) the widening is `vcvtph2ps` and the
//! arithmetic 8-lane FMA; elsewhere a portable version with the same lane structure.
//! Both sum in the same order for every (row, query) pair whichever rows it is paired
//! with, so a score does not depend on how the scan was split across threads.

use half::f16;

/// Lanes of an accumulator (one AVX register of f32).
const LANES: usize = 8;

/// Scores `rows` (two rows of `dim` Float16 values; the second may repeat the first)
/// against four queries of `dim` f32 values: `out[r][q]` = row r · query q.
pub fn dot_2x4(rows: [&[f16]; 2], queries: [&[f32]; 4], out: &mut [[f32; 4]; 2]) {
    #[cfg(target_arch = "x86_64")]
    {
        let dim = rows[0].len();
        if has_avx2_f16c() && rows.iter().all(|r| r.len() == dim) && queries.iter().all(|q| q.len() == dim) {
            // SAFETY: the CPU features and the equal lengths were checked just above.
            unsafe { x86::dot_2x4(rows, queries, out) };
            return;
        }
    }
    portable_dot_2x4(rows, queries, out);
}

/// Whether the vectorised kernel runs on this CPU.
pub fn simd_in_use() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_f16c() {
            return "avx2+fma+f16c";
        }
    }
    "portable"
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_f16c() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c"))
}

/// The same sums as the AVX2 kernel (8 lane accumulators, then a fixed reduction
/// tree), without intrinsics.
pub fn portable_dot_2x4(rows: [&[f16]; 2], queries: [&[f32]; 4], out: &mut [[f32; 4]; 2]) {
    let dim = rows[0].len();
    let mut acc = [[[0f32; LANES]; 4]; 2];
    let full = dim / LANES * LANES;
    let mut wide = [[0f32; LANES]; 2];
    for i in (0..full).step_by(LANES) {
        for r in 0..2 {
            for l in 0..LANES {
                wide[r][l] = rows[r][i + l].to_f32();
            }
        }
        for r in 0..2 {
            for q in 0..4 {
                for l in 0..LANES {
                    acc[r][q][l] = wide[r][l].mul_add(queries[q][i + l], acc[r][q][l]);
                }
            }
        }
    }
    for r in 0..2 {
        for q in 0..4 {
            let mut s = reduce(&acc[r][q]);
            for i in full..dim {
                s = rows[r][i].to_f32().mul_add(queries[q][i], s);
            }
            out[r][q] = s;
        }
    }
}

/// Horizontal sum of 8 lanes in the order the AVX2 kernel uses: (lo + hi), then pairs.
fn reduce(a: &[f32; LANES]) -> f32 {
    let h = [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7]];
    let p = [h[0] + h[2], h[1] + h[3]];
    p[0] + p[1]
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use half::f16;

    use super::{reduce, LANES};

    /// # Safety
    /// The CPU must have AVX2, FMA and F16C; every row and query must have the same length.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_2x4(rows: [&[f16]; 2], queries: [&[f32]; 4], out: &mut [[f32; 4]; 2]) {
        debug_assert!(rows.iter().all(|r| r.len() == rows[0].len()) && queries.iter().all(|q| q.len() == rows[0].len()));
        // SAFETY: the caller guarantees the CPU features (so the intrinsics may run) and
        // equal lengths: every load below reads lanes i..i + 8 with i + 8 ≤ full ≤ dim.
        unsafe {
            let dim = rows[0].len();
            let full = dim / LANES * LANES;
            let mut acc = [[_mm256_setzero_ps(); 4]; 2];
            let (r0, r1) = (rows[0].as_ptr() as *const u16, rows[1].as_ptr() as *const u16);
            let q = [queries[0].as_ptr(), queries[1].as_ptr(), queries[2].as_ptr(), queries[3].as_ptr()];
            let mut i = 0;
            while i < full {
                let w0 = _mm256_cvtph_ps(_mm_loadu_si128(r0.add(i) as *const __m128i));
                let w1 = _mm256_cvtph_ps(_mm_loadu_si128(r1.add(i) as *const __m128i));
                for k in 0..4 {
                    let qk = _mm256_loadu_ps(q[k].add(i));
                    acc[0][k] = _mm256_fmadd_ps(w0, qk, acc[0][k]);
                    acc[1][k] = _mm256_fmadd_ps(w1, qk, acc[1][k]);
                }
                i += LANES;
            }
            for r in 0..2 {
                for k in 0..4 {
                    let mut lanes = [0f32; LANES];
                    _mm256_storeu_ps(lanes.as_mut_ptr(), acc[r][k]);
                    let mut s = reduce(&lanes);
                    for j in full..dim {
                        s = rows[r][j].to_f32().mul_add(queries[k][j], s);
                    }
                    out[r][k] = s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_and_portable_kernels_agree_bit_for_bit() {
        for dim in [1, 7, 8, 32, 45, 1024] {
            let rows: Vec<Vec<f16>> =
                (0..2).map(|r| (0..dim).map(|i| f16::from_f32(((i * 7 + r * 3) % 17) as f32 / 5.0 - 1.3)).collect()).collect();
            let qs: Vec<Vec<f32>> = (0..4).map(|q| (0..dim).map(|i| ((i * 5 + q * 11) % 13) as f32 / 7.0 - 0.9).collect()).collect();
            let mut a = [[0f32; 4]; 2];
            let mut b = [[0f32; 4]; 2];
            dot_2x4([&rows[0], &rows[1]], [&qs[0], &qs[1], &qs[2], &qs[3]], &mut a);
            portable_dot_2x4([&rows[0], &rows[1]], [&qs[0], &qs[1], &qs[2], &qs[3]], &mut b);
            assert_eq!(a, b, "dim {dim} ({})", simd_in_use());
            for r in 0..2 {
                for q in 0..4 {
                    let exact: f64 = rows[r].iter().zip(&qs[q]).map(|(x, y)| x.to_f64() * *y as f64).sum();
                    assert!((a[r][q] as f64 - exact).abs() < 1e-4 * (1.0 + exact.abs()));
                }
            }
        }
    }
}
