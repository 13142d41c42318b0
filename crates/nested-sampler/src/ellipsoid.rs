//! Bounding ellipsoids of the live points and their multi-ellipsoid decomposition
//! (Mukherjee, Parkinson & Liddle 2006, ApJ 638, L51; Feroz & Hobson 2008, MNRAS 384,
//! 449, §5; Feroz, Hobson & Bridges 2009, MNRAS 398, 1601, §5.2).

use crate::rng::Rng;

/// `{x : (x − c)ᵀ A (x − c) ≤ 1}`, kept as its centre, A, and the Cholesky factor L
/// of A⁻¹ (so that x = c + L·y maps the unit ball onto it).
#[derive(Debug, Clone)]
pub struct Ellipsoid {
    /// Centre.
    pub center: Vec<f64>,
    /// Shape matrix A (row-major d × d).
    a: Vec<f64>,
    /// Lower Cholesky factor of A⁻¹ (row-major).
    l: Vec<f64>,
    /// log of the volume.
    pub log_volume: f64,
}

/// log volume of the unit d-ball: (d/2) ln π − ln Γ(d/2 + 1).
pub fn log_unit_ball(d: usize) -> f64 {
    0.5 * d as f64 * std::f64::consts::PI.ln() - ln_gamma(0.5 * d as f64 + 1.0)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error < 1e-14).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

fn cholesky(m: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = m[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// Inverse of a symmetric positive-definite matrix from its Cholesky factor.
fn spd_inverse_from_cholesky(l: &[f64], d: usize) -> Vec<f64> {
    let mut inv = vec![0.0; d * d];
    for col in 0..d {
        // Solve L y = e_col, then Lᵀ x = y.
        let mut y = vec![0.0; d];
        for i in 0..d {
            let mut s = if i == col { 1.0 } else { 0.0 };
            for k in 0..i {
                s -= l[i * d + k] * y[k];
            }
            y[i] = s / l[i * d + i];
        }
        for i in (0..d).rev() {
            let mut s = y[i];
            for k in i + 1..d {
                s -= l[k * d + i] * inv[k * d + col];
            }
            inv[i * d + col] = s / l[i * d + i];
        }
    }
    inv
}

impl Ellipsoid {
    /// The smallest ellipsoid of the points' covariance shape that contains them all,
    /// then grown in every direction by `enlarge` (linear factor) and, if its volume is
    /// below `min_log_volume`, grown to that volume.
    pub fn fit(points: &[&[f64]], enlarge: f64, min_log_volume: f64) -> Self {
        let d = points[0].len();
        let n = points.len() as f64;
        let mut center = vec![0.0; d];
        for p in points {
            for (c, x) in center.iter_mut().zip(p.iter()) {
                *c += x / n;
            }
        }
        let mut cov = vec![0.0; d * d];
        for p in points {
            for i in 0..d {
                for j in 0..=i {
                    cov[i * d + j] += (p[i] - center[i]) * (p[j] - center[j]) / n;
                }
            }
        }
        for i in 0..d {
            for j in 0..i {
                cov[j * d + i] = cov[i * d + j];
            }
        }
        // Too few or collinear points: a floor on the variances keeps A finite.
        let trace: f64 = (0..d).map(|i| cov[i * d + i]).sum::<f64>() / d as f64;
        let floor = 1e-10 * trace.max(1e-300) + 1e-300;
        let mut chol = None;
        for attempt in 0..30 {
            let jitter = floor * 10f64.powi(attempt);
            let mut c = cov.clone();
            for i in 0..d {
                c[i * d + i] += jitter;
            }
            if let Some(l) = cholesky(&c, d) {
                chol = Some(l);
                break;
            }
        }
        let lc = chol.unwrap_or_else(|| {
            let mut l = vec![0.0; d * d];
            for i in 0..d {
                l[i * d + i] = 1.0;
            }
            l
        });
        let cinv = spd_inverse_from_cholesky(&lc, d);
        // Scale so that every point is inside.
        let mut s_max: f64 = 0.0;
        for p in points {
            let dx: Vec<f64> = p.iter().zip(&center).map(|(x, c)| x - c).collect();
            let mut m = 0.0;
            for i in 0..d {
                for j in 0..d {
                    m += dx[i] * cinv[i * d + j] * dx[j];
                }
            }
            s_max = s_max.max(m);
        }
        let s_max = s_max.max(1e-300);
        let log_det_lc: f64 = (0..d).map(|i| lc[i * d + i].ln()).sum();
        let mut scale2 = s_max * enlarge * enlarge;
        let mut log_volume = log_unit_ball(d) + 0.5 * d as f64 * scale2.ln() + log_det_lc;
        if log_volume < min_log_volume {
            scale2 *= ((min_log_volume - log_volume) * 2.0 / d as f64).exp();
            log_volume = min_log_volume;
        }
        let a = cinv.iter().map(|v| v / scale2).collect();
        let l = lc.iter().map(|v| v * scale2.sqrt()).collect();
        Ellipsoid { center, a, l, log_volume }
    }

    /// Whether `x` is inside.
    pub fn contains(&self, x: &[f64]) -> bool {
        let d = self.center.len();
        let mut m = 0.0;
        for i in 0..d {
            let di = x[i] - self.center[i];
            let mut row = 0.0;
            for j in 0..d {
                row += self.a[i * d + j] * (x[j] - self.center[j]);
            }
            m += di * row;
        }
        m <= 1.0
    }

    /// A point drawn uniformly from inside.
    pub fn sample(&self, rng: &mut Rng) -> Vec<f64> {
        let d = self.center.len();
        let y = rng.in_unit_ball(d);
        (0..d).map(|i| self.center[i] + (0..=i).map(|k| self.l[i * d + k] * y[k]).sum::<f64>()).collect()
    }
}

/// Lower Cholesky factor (row-major) of the points' covariance, with a small floor on the
/// diagonal so that it always exists.
pub fn covariance_cholesky(points: &[&[f64]]) -> Vec<f64> {
    let d = points[0].len();
    let n = points.len() as f64;
    let mean: Vec<f64> = (0..d).map(|j| points.iter().map(|p| p[j]).sum::<f64>() / n).collect();
    let mut cov = vec![0.0; d * d];
    for p in points {
        for i in 0..d {
            for j in 0..=i {
                cov[i * d + j] += (p[i] - mean[i]) * (p[j] - mean[j]) / n;
            }
        }
    }
    for i in 0..d {
        for j in 0..i {
            cov[j * d + i] = cov[i * d + j];
        }
    }
    for attempt in 0..30 {
        let mut c = cov.clone();
        for i in 0..d {
            c[i * d + i] += 1e-14 * 10f64.powi(attempt);
        }
        if let Some(l) = cholesky(&c, d) {
            return l;
        }
    }
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        l[i * d + i] = 1e-3;
    }
    l
}

/// Two clusters by k-means (k = 2), started from the point farthest from the mean and
/// the point farthest from that one (deterministic).
fn two_means(points: &[&[f64]]) -> (Vec<usize>, Vec<usize>) {
    let d = points[0].len();
    let n = points.len();
    let dist2 = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
    let mean: Vec<f64> = (0..d).map(|j| points.iter().map(|p| p[j]).sum::<f64>() / n as f64).collect();
    let far = |from: &[f64]| (0..n).max_by(|&i, &j| dist2(points[i], from).total_cmp(&dist2(points[j], from))).unwrap_or(0);
    let i0 = far(&mean);
    let i1 = far(points[i0]);
    let mut c = [points[i0].to_vec(), points[i1].to_vec()];
    let mut label = vec![0usize; n];
    for _ in 0..20 {
        let mut changed = false;
        for (i, p) in points.iter().enumerate() {
            let l = usize::from(dist2(p, &c[1]) < dist2(p, &c[0]));
            changed |= l != label[i];
            label[i] = l;
        }
        for (k, ck) in c.iter_mut().enumerate() {
            let members: Vec<&&[f64]> = points.iter().zip(&label).filter(|(_, l)| **l == k).map(|(p, _)| p).collect();
            if !members.is_empty() {
                *ck = (0..d).map(|j| members.iter().map(|p| p[j]).sum::<f64>() / members.len() as f64).collect();
            }
        }
        if !changed {
            break;
        }
    }
    let a = (0..n).filter(|&i| label[i] == 0).collect();
    let b = (0..n).filter(|&i| label[i] == 1).collect();
    (a, b)
}

/// Ellipsoids covering `points` (Feroz & Hobson 2008, §5.2, in the form nestle uses):
/// the points' ellipsoid is split by 2-means and the halves decomposed recursively; the
/// split is kept when the two children (or, failing that, the full recursive
/// decomposition) have less than half the parent's volume. (Splitting whenever the
/// parent exceeds twice the expected volume, as nestle also does, cuts into the contour in
/// 10 dimensions and biased ln Z by +2 in our tests.) `log_x` is the
/// expected log volume of the region all the points sample; no ellipsoid is allowed
/// below its share of it.
pub fn decompose(points: &[&[f64]], enlarge: f64, log_x: f64) -> Vec<Ellipsoid> {
    let d = points[0].len();
    let n_total = points.len() as f64;
    split(points, enlarge, log_x, n_total, d)
}

fn log_sum_volumes(e: &[Ellipsoid]) -> f64 {
    let m = e.iter().map(|x| x.log_volume).fold(f64::NEG_INFINITY, f64::max);
    m + e.iter().map(|x| (x.log_volume - m).exp()).sum::<f64>().ln()
}

fn split(points: &[&[f64]], enlarge: f64, log_x: f64, n_total: f64, d: usize) -> Vec<Ellipsoid> {
    // An ellipsoid fitted to fewer points underestimates its region more: its volume is
    // enlarged by √(N/n_k) (Feroz, Hobson & Bridges 2009, §5.1.2).
    let fit = |p: &[&[f64]]| {
        let grow = (0.5 * (n_total / p.len() as f64).ln() / d as f64).exp();
        Ellipsoid::fit(p, enlarge * grow, log_x + (p.len() as f64 / n_total).ln())
    };
    let whole = fit(points);
    // Clusters are only trusted with a few points per dimension.
    let min_cluster = 2 * (d + 1);
    if points.len() < 2 * min_cluster {
        return vec![whole];
    }
    let (ia, ib) = two_means(points);
    if ia.len() < min_cluster || ib.len() < min_cluster {
        return vec![whole];
    }
    let pa: Vec<&[f64]> = ia.iter().map(|&i| points[i]).collect();
    let pb: Vec<&[f64]> = ib.iter().map(|&i| points[i]).collect();
    let (ea, eb) = (fit(&pa), fit(&pb));
    let half = whole.log_volume + 0.5f64.ln();
    if log_sum_volumes(&[ea, eb]) < half {
        let mut out = split(&pa, enlarge, log_x, n_total, d);
        out.extend(split(&pb, enlarge, log_x, n_total, d));
        return out;
    }
    // Clusters (many modes) may only separate a few levels down.
    let mut out = split(&pa, enlarge, log_x, n_total, d);
    out.extend(split(&pb, enlarge, log_x, n_total, d));
    if log_sum_volumes(&out) < half {
        out
    } else {
        vec![whole]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_and_ball_volumes() {
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        assert!((log_unit_ball(2) - std::f64::consts::PI.ln()).abs() < 1e-12);
        assert!((log_unit_ball(3) - (4.0 / 3.0 * std::f64::consts::PI).ln()).abs() < 1e-12);
    }

    #[test]
    fn fitted_ellipsoid_contains_its_points_and_samples_inside() {
        let mut rng = Rng::new(3);
        let pts: Vec<Vec<f64>> = (0..200)
            .map(|_| {
                let u = rng.uniform();
                let v = rng.uniform();
                vec![0.5 + 0.3 * (u - 0.5) + 0.1 * v, 0.4 + 0.05 * (v - 0.5)]
            })
            .collect();
        let refs: Vec<&[f64]> = pts.iter().map(|p| p.as_slice()).collect();
        let e = Ellipsoid::fit(&refs, 1.0, f64::NEG_INFINITY);
        assert!(pts.iter().all(|p| e.contains(p)));
        for _ in 0..1000 {
            assert!(e.contains(&e.sample(&mut rng)));
        }
        // Two far-apart blobs are split in two.
        let mut two = pts.clone();
        two.extend(pts.iter().map(|p| vec![p[0] - 0.3, p[1] + 0.5]));
        let refs: Vec<&[f64]> = two.iter().map(|p| p.as_slice()).collect();
        assert!(decompose(&refs, 1.0, f64::NEG_INFINITY).len() >= 2);
    }
}
