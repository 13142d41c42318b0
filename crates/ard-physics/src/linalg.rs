//! Small dense linear algebra for the fit: least squares by Householder QR, the
//! Lawson & Hanson (1974, *Solving Least Squares Problems*, ch. 23, algorithm NNLS)
//! non-negative least squares with a warm start, and a symmetric positive-definite
//! inverse by Cholesky. Matrices are column-major: column j is `a[j*m..(j+1)*m]`.

/// Solves min ‖A z − b‖ for the columns `cols` of the m-row column-major `a`, by
/// Householder QR (stable on the nearly collinear columns that SSP templates are).
/// Returns `None` when the columns are numerically dependent.
pub fn least_squares(a: &[f64], m: usize, cols: &[usize], b: &[f64]) -> Option<Vec<f64>> {
    let p = cols.len();
    if p == 0 {
        return Some(Vec::new());
    }
    let mut q: Vec<f64> = Vec::with_capacity(m * p);
    for &j in cols {
        q.extend_from_slice(&a[j * m..(j + 1) * m]);
    }
    let mut rhs = b.to_vec();
    let mut diag = vec![0.0; p];
    let mut max_norm: f64 = 0.0;
    for k in 0..p {
        let col = &mut q[k * m..(k + 1) * m];
        let norm = col[k..].iter().map(|x| x * x).sum::<f64>().sqrt();
        max_norm = max_norm.max(norm);
        if norm <= 1e-12 * max_norm.max(1e-300) {
            return None;
        }
        let alpha = if col[k] > 0.0 { -norm } else { norm };
        col[k] -= alpha;
        let vnorm2 = col[k..].iter().map(|x| x * x).sum::<f64>();
        diag[k] = alpha;
        if vnorm2 == 0.0 {
            continue;
        }
        let (left, right) = q.split_at_mut((k + 1) * m);
        let v = &left[k * m + k..(k + 1) * m];
        for jj in 0..(p - k - 1) {
            let c = &mut right[jj * m + k..(jj + 1) * m];
            let t = 2.0 * v.iter().zip(c.iter()).map(|(x, y)| x * y).sum::<f64>() / vnorm2;
            for (ci, vi) in c.iter_mut().zip(v) {
                *ci -= t * vi;
            }
        }
        let t = 2.0 * v.iter().zip(&rhs[k..]).map(|(x, y)| x * y).sum::<f64>() / vnorm2;
        for (ri, vi) in rhs[k..].iter_mut().zip(v) {
            *ri -= t * vi;
        }
    }
    // Back substitution with R (diagonal in `diag`, above it in q).
    let mut z = vec![0.0; p];
    for k in (0..p).rev() {
        let mut s = rhs[k];
        for j in k + 1..p {
            s -= q[j * m + k] * z[j];
        }
        z[k] = s / diag[k];
    }
    if z.iter().all(|x| x.is_finite()) {
        Some(z)
    } else {
        None
    }
}

/// Non-negative least squares: min ‖A x − b‖ subject to x ≥ 0 for the columns listed
/// in `nonneg`; the other columns are free (never constrained). `warm` is the passive
/// set of a previous, similar problem: starting from it, a fit that changes little
/// between calls (as in the Levenberg–Marquardt loop) needs one or two iterations.
pub fn nnls(a: &[f64], m: usize, n: usize, b: &[f64], nonneg: &[bool], warm: &[usize]) -> Vec<f64> {
    let mut x = vec![0.0; n];
    let mut passive: Vec<usize> = (0..n).filter(|&j| !nonneg[j]).collect();
    for &j in warm {
        if j < n && nonneg[j] && !passive.contains(&j) {
            passive.push(j);
        }
    }
    let tol = 1e-10;
    let mut outer = 0;
    let mut first = true;
    loop {
        if !first {
            // Gradient of −½‖Ax − b‖²: w = Aᵀ(b − A x).
            let mut r = b.to_vec();
            for &j in &passive {
                let col = &a[j * m..(j + 1) * m];
                for (ri, ci) in r.iter_mut().zip(col) {
                    *ri -= ci * x[j];
                }
            }
            let mut best = None;
            let mut best_w = 0.0;
            let scale = b.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
            for j in 0..n {
                if passive.contains(&j) {
                    continue;
                }
                let col = &a[j * m..(j + 1) * m];
                let w: f64 = col.iter().zip(&r).map(|(c, r)| c * r).sum();
                let cn = col.iter().map(|c| c * c).sum::<f64>().sqrt().max(1e-300);
                if w / (cn * scale) > tol && w > best_w {
                    best_w = w;
                    best = Some(j);
                }
            }
            match best {
                Some(j) => passive.push(j),
                None => break,
            }
        }
        first = false;
        outer += 1;
        if outer > 3 * n + 10 {
            break;
        }
        // Inner loop: keep the passive solution feasible.
        loop {
            let z = match least_squares(a, m, &passive, b) {
                Some(z) => z,
                None => {
                    // A dependent column entered: drop the newest and stop growing.
                    passive.pop();
                    match least_squares(a, m, &passive, b) {
                        Some(z) => {
                            for (k, &j) in passive.iter().enumerate() {
                                x[j] = z[k];
                            }
                        }
                        None => {}
                    }
                    return clamp_nonneg(x, nonneg);
                }
            };
            let mut alpha: f64 = 1.0;
            let mut blocked = false;
            for (k, &j) in passive.iter().enumerate() {
                if nonneg[j] && z[k] <= 0.0 {
                    blocked = true;
                    let denom = x[j] - z[k];
                    if denom > 0.0 {
                        alpha = alpha.min(x[j] / denom);
                    } else {
                        alpha = 0.0;
                    }
                }
            }
            if !blocked {
                for (k, &j) in passive.iter().enumerate() {
                    x[j] = z[k];
                }
                break;
            }
            for (k, &j) in passive.iter().enumerate() {
                x[j] += alpha * (z[k] - x[j]);
            }
            passive.retain(|&j| !nonneg[j] || x[j] > 1e-14 * (1.0 + x[j].abs()));
            for j in 0..n {
                if nonneg[j] && !passive.contains(&j) {
                    x[j] = 0.0;
                }
            }
        }
    }
    clamp_nonneg(x, nonneg)
}

fn clamp_nonneg(mut x: Vec<f64>, nonneg: &[bool]) -> Vec<f64> {
    for (v, &c) in x.iter_mut().zip(nonneg) {
        if c && *v < 0.0 {
            *v = 0.0;
        }
    }
    x
}

/// Inverse of a symmetric positive-definite `p × p` matrix (row-major) by Cholesky;
/// `None` when it is not positive definite.
pub fn spd_inverse(mat: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..=i {
            let mut s = mat[i * p + j];
            for k in 0..j {
                s -= l[i * p + k] * l[j * p + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * p + i] = s.sqrt();
            } else {
                l[i * p + j] = s / l[j * p + j];
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_an_exact_solution() {
        let m = 50;
        let a: Vec<f64> = (0..3 * m).map(|k| ((k * 7 % 13) as f64).sin() + (k / m) as f64 * 0.1).collect();
        let truth = [1.5, -2.0, 0.25];
        let b: Vec<f64> = (0..m).map(|i| (0..3).map(|j| a[j * m + i] * truth[j]).sum()).collect();
        let z = least_squares(&a, m, &[0, 1, 2], &b).unwrap();
        for (zi, ti) in z.iter().zip(truth) {
            assert!((zi - ti).abs() < 1e-10);
        }
    }

    /// NNLS against the KKT conditions: x ≥ 0, gradient ≤ 0 where x = 0, = 0 where x > 0.
    #[test]
    fn nnls_satisfies_the_kkt_conditions() {
        let (m, n) = (80, 12);
        let mut state = 12345u64;
        let mut rnd = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        let a: Vec<f64> = (0..m * n).map(|_| rnd()).collect();
        let b: Vec<f64> = (0..m).map(|_| rnd()).collect();
        let mut nonneg = vec![true; n];
        nonneg[0] = false;
        let x = nnls(&a, m, n, &b, &nonneg, &[]);
        let r: Vec<f64> = (0..m).map(|i| b[i] - (0..n).map(|j| a[j * m + i] * x[j]).sum::<f64>()).collect();
        for j in 0..n {
            let w: f64 = (0..m).map(|i| a[j * m + i] * r[i]).sum();
            if !nonneg[j] || x[j] > 0.0 {
                assert!(w.abs() < 1e-8, "column {j}: gradient {w} at x = {}", x[j]);
            } else {
                assert!(w <= 1e-8, "column {j}: gradient {w} at the bound");
            }
        }
        assert!(x.iter().skip(1).any(|&v| v == 0.0) && x.iter().skip(1).any(|&v| v > 0.0));
        // A warm start from the solution's own passive set gives the same answer.
        let passive: Vec<usize> = (0..n).filter(|&j| x[j] > 0.0).collect();
        let x2 = nnls(&a, m, n, &b, &nonneg, &passive);
        for (u, v) in x.iter().zip(&x2) {
            assert!((u - v).abs() < 1e-10);
        }
    }

    #[test]
    fn spd_inverse_inverts() {
        let m = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let inv = spd_inverse(&m, 3).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let s: f64 = (0..3).map(|k| m[i * 3 + k] * inv[k * 3 + j]).sum();
                assert!((s - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        assert!(spd_inverse(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }
}
