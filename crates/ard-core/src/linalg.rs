//! Small dense linear algebra shared by the per-object fits (K × K systems, a few
//! dozen unknowns): Cholesky factorisation and solves, the symmetric positive-definite
//! inverse, and the cyclic Jacobi eigen-decomposition of a symmetric matrix (Golub &
//! Van Loan, *Matrix Computations*, 4th ed., §8.5). Matrices are row-major `p × p`.

/// Lower Cholesky factor of a symmetric `p × p` matrix (row-major); `None` when a
/// pivot falls to `tiny` or below (not positive definite, or dependent columns).
pub fn cholesky(g: &[f64], p: usize, tiny: f64) -> Option<Vec<f64>> {
    let mut l = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..=i {
            let mut s = g[i * p + j];
            for k in 0..j {
                s -= l[i * p + k] * l[j * p + k];
            }
            if i == j {
                if s <= tiny || !s.is_finite() {
                    return None;
                }
                l[i * p + i] = s.sqrt();
            } else {
                l[i * p + j] = s / l[j * p + j];
            }
        }
    }
    Some(l)
}

/// Cholesky solve of a symmetric matrix with unit-ish diagonal; `None` when a pivot
/// falls below `tiny` (numerically dependent columns).
pub fn cholesky_solve(g: &[f64], p: usize, rhs: &[f64], tiny: f64) -> Option<Vec<f64>> {
    let l = cholesky(g, p, tiny)?;
    let mut y = rhs.to_vec();
    for i in 0..p {
        let mut s = y[i];
        for k in 0..i {
            s -= l[i * p + k] * y[k];
        }
        y[i] = s / l[i * p + i];
    }
    for i in (0..p).rev() {
        let mut s = y[i];
        for k in i + 1..p {
            s -= l[k * p + i] * y[k];
        }
        y[i] = s / l[i * p + i];
    }
    Some(y)
}

/// Inverse of a symmetric positive-definite `p × p` matrix (row-major) by Cholesky;
/// `None` when it is not positive definite.
pub fn spd_inverse(mat: &[f64], p: usize) -> Option<Vec<f64>> {
    let l = cholesky(mat, p, 0.0)?;
    // Invert L, then inverse = L⁻ᵀ L⁻¹.
    let mut li = vec![0.0; p * p];
    for i in 0..p {
        li[i * p + i] = 1.0 / l[i * p + i];
        for j in 0..i {
            let mut s = 0.0;
            for k in j..i {
                s -= l[i * p + k] * li[k * p + j];
            }
            li[i * p + j] = s / l[i * p + i];
        }
    }
    let mut inv = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..=i {
            let s: f64 = (i.max(j)..p).map(|k| li[k * p + i] * li[k * p + j]).sum();
            inv[i * p + j] = s;
            inv[j * p + i] = s;
        }
    }
    Some(inv)
}

/// Solves the symmetric positive-definite system `mat · x = rhs` (row-major `p × p`).
pub fn spd_solve(mat: &[f64], p: usize, rhs: &[f64]) -> Option<Vec<f64>> {
    let inv = spd_inverse(mat, p)?;
    Some((0..p).map(|i| (0..p).map(|j| inv[i * p + j] * rhs[j]).sum()).collect())
}

/// Eigen-decomposition of a symmetric `p × p` matrix (row-major) by cyclic Jacobi
/// rotations (Golub & Van Loan §8.5.2): returns the eigenvalues in decreasing order and
/// the matching unit eigenvectors as rows (`vectors[k*p..(k+1)*p]`). Accurate to
/// rounding for the small matrices it is meant for (p ≲ 100).
pub fn symmetric_eigen(mat: &[f64], p: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = mat.to_vec();
    let mut v = vec![0.0; p * p];
    for i in 0..p {
        v[i * p + i] = 1.0;
    }
    let norm2: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..p).flat_map(|i| (0..p).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| a[i * p + j].powi(2)).sum();
        if off <= 1e-30 * norm2.max(1e-300) {
            break;
        }
        for q in 1..p {
            for r in 0..q {
                let apq = a[r * p + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * p + q] - a[r * p + r]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..p {
                    let (akr, akq) = (a[k * p + r], a[k * p + q]);
                    a[k * p + r] = c * akr - s * akq;
                    a[k * p + q] = s * akr + c * akq;
                }
                for k in 0..p {
                    let (ark, aqk) = (a[r * p + k], a[q * p + k]);
                    a[r * p + k] = c * ark - s * aqk;
                    a[q * p + k] = s * ark + c * aqk;
                }
                for k in 0..p {
                    let (vkr, vkq) = (v[k * p + r], v[k * p + q]);
                    v[k * p + r] = c * vkr - s * vkq;
                    v[k * p + q] = s * vkr + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&i, &j| a[j * p + j].total_cmp(&a[i * p + i]).then(i.cmp(&j)));
    let values = order.iter().map(|&i| a[i * p + i]).collect();
    let vectors = order.iter().flat_map(|&i| (0..p).map(move |k| (i, k))).map(|(i, k)| v[k * p + i]).collect();
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spd_solve_and_inverse() {
        let m = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let x = spd_solve(&m, 3, &[1.0, 2.0, 3.0]).unwrap();
        for i in 0..3 {
            let r: f64 = (0..3).map(|j| m[i * 3 + j] * x[j]).sum();
            assert!((r - [1.0, 2.0, 3.0][i]).abs() < 1e-12);
        }
        assert!(spd_inverse(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }

    #[test]
    fn jacobi_eigen_reconstructs_the_matrix() {
        let p = 7;
        let mut m = vec![0.0; p * p];
        for i in 0..p {
            for j in 0..=i {
                let v = ((i * 31 + j * 17) % 11) as f64 / 3.0 - 1.5 + if i == j { 2.0 } else { 0.0 };
                m[i * p + j] = v;
                m[j * p + i] = v;
            }
        }
        let (vals, vecs) = symmetric_eigen(&m, p);
        assert!(vals.windows(2).all(|w| w[0] >= w[1]));
        for i in 0..p {
            for j in 0..p {
                let r: f64 = (0..p).map(|k| vals[k] * vecs[k * p + i] * vecs[k * p + j]).sum();
                assert!((r - m[i * p + j]).abs() < 1e-10, "{i} {j}");
                let d: f64 = (0..p).map(|k| vecs[i * p + k] * vecs[j * p + k]).sum();
                assert!((d - if i == j { 1.0 } else { 0.0 }).abs() < 1e-10);
            }
        }
    }
}
