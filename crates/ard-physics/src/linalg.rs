//! Small dense linear algebra for the fit: least squares by Householder QR, the
//! Lawson & Hanson (1974, *Solving Least Squares Problems*, ch. 23, algorithm NNLS)
//! non-negative least squares with a warm start, and a symmetric positive-definite
//! inverse by Cholesky (in `ard_core::linalg`, re-exported). Matrices are column-major:
//! column j is `a[j*m..(j+1)*m]`.

use ard_core::linalg::cholesky_solve;
pub use ard_core::linalg::{spd_inverse, spd_solve};

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

/// Column-major matrix whose columns may be zero outside a contiguous row range
/// (the emission-line templates): dot products only run over the overlap, and the
/// Gram matrix entries are cached.
pub struct SparseColumns<'a> {
    a: &'a [f64],
    m: usize,
    ranges: Vec<(usize, usize)>,
    gram: Vec<f64>,
    n: usize,
}

impl<'a> SparseColumns<'a> {
    /// Wraps `a` (m rows, n columns), finding each column's non-zero range.
    pub fn new(a: &'a [f64], m: usize, n: usize) -> Self {
        let ranges = (0..n)
            .map(|j| {
                let c = &a[j * m..(j + 1) * m];
                let first = c.iter().position(|&x| x != 0.0).unwrap_or(m);
                let last = c.iter().rposition(|&x| x != 0.0).map(|p| p + 1).unwrap_or(first);
                (first, last.max(first))
            })
            .collect();
        SparseColumns { a, m, ranges, gram: vec![f64::NAN; n * n], n }
    }
    /// Column j · v.
    pub fn dot_vec(&self, j: usize, v: &[f64]) -> f64 {
        let (lo, hi) = self.ranges[j];
        self.a[j * self.m + lo..j * self.m + hi].iter().zip(&v[lo..hi]).map(|(x, y)| x * y).sum()
    }
    /// Column i · column j (cached).
    pub fn dot(&mut self, i: usize, j: usize) -> f64 {
        let k = i * self.n + j;
        if !self.gram[k].is_nan() {
            return self.gram[k];
        }
        let (lo, hi) = (self.ranges[i].0.max(self.ranges[j].0), self.ranges[i].1.min(self.ranges[j].1));
        let s = if lo < hi {
            let m = self.m;
            self.a[i * m + lo..i * m + hi].iter().zip(&self.a[j * m + lo..j * m + hi]).map(|(x, y)| x * y).sum()
        } else {
            0.0
        };
        self.gram[k] = s;
        self.gram[j * self.n + i] = s;
        s
    }
    /// Adds `scale` × column j to `v`.
    pub fn axpy(&self, j: usize, scale: f64, v: &mut [f64]) {
        let (lo, hi) = self.ranges[j];
        for (x, c) in v[lo..hi].iter_mut().zip(&self.a[j * self.m + lo..j * self.m + hi]) {
            *x += scale * c;
        }
    }
    /// Least squares on the columns `cols` by the normal equations, equilibrated
    /// (unit diagonal) before the Cholesky factorisation; `None` if not positive definite.
    pub fn solve_normal(&mut self, cols: &[usize], atb: &[f64]) -> Option<Vec<f64>> {
        let p = cols.len();
        let d: Vec<f64> = cols.iter().map(|&j| self.dot(j, j).sqrt()).collect();
        if d.iter().any(|&x| !(x > 0.0)) {
            return None;
        }
        let mut g = vec![0.0; p * p];
        for i in 0..p {
            for j in 0..=i {
                let v = self.dot(cols[i], cols[j]) / (d[i] * d[j]);
                g[i * p + j] = v;
                g[j * p + i] = v;
            }
        }
        let rhs: Vec<f64> = (0..p).map(|i| atb[cols[i]] / d[i]).collect();
        let y = cholesky_solve(&g, p, &rhs, 1e-13)?;
        Some((0..p).map(|i| y[i] / d[i]).collect())
    }
}

/// Non-negative least squares: min ‖A x − b‖ subject to x ≥ 0 for the columns listed
/// in `nonneg`; the other columns are free (never constrained). `warm` is the passive
/// set of a previous, similar problem: starting from it, a fit that changes little
/// between calls (as in the Levenberg–Marquardt loop) needs one or two iterations.
///
/// The least-squares subproblems use the equilibrated normal equations with a Gram
/// matrix built only over each column's non-zero rows (cheap for the narrow line
/// templates), falling back to Householder QR when they are ill-conditioned.
pub fn nnls(a: &[f64], m: usize, n: usize, b: &[f64], nonneg: &[bool], warm: &[usize]) -> Vec<f64> {
    let mut cols = SparseColumns::new(a, m, n);
    let atb: Vec<f64> = (0..n).map(|j| cols.dot_vec(j, b)).collect();
    let mut x = vec![0.0; n];
    let mut passive: Vec<usize> = (0..n).filter(|&j| !nonneg[j]).collect();
    for &j in warm {
        if j < n && nonneg[j] && !passive.contains(&j) {
            passive.push(j);
        }
    }
    let solve = |cols: &mut SparseColumns, passive: &[usize]| -> Option<Vec<f64>> {
        cols.solve_normal(passive, &atb).or_else(|| least_squares(a, m, passive, b))
    };
    let tol = 1e-10;
    let scale = b.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
    let mut outer = 0;
    let mut first = true;
    loop {
        if !first {
            // Gradient of −½‖Ax − b‖²: w = Aᵀ(b − A x).
            let mut r = b.to_vec();
            for &j in &passive {
                cols.axpy(j, -x[j], &mut r);
            }
            let mut best = None;
            let mut best_w = 0.0;
            for j in 0..n {
                if passive.contains(&j) {
                    continue;
                }
                let w = cols.dot_vec(j, &r);
                let cn = cols.dot(j, j).sqrt().max(1e-300);
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
            let z = match solve(&mut cols, &passive) {
                Some(z) => z,
                None => {
                    // A dependent column entered: drop the newest and stop growing.
                    passive.pop();
                    if let Some(z) = solve(&mut cols, &passive) {
                        for (k, &j) in passive.iter().enumerate() {
                            x[j] = z[k];
                        }
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
