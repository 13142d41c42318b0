//! Issue 5's sampler acceptance: a 10-D correlated Gaussian (ln Z within 3σ of its own
//! error and within 0.2 of the truth; posterior means within 3 Monte-Carlo standard
//! errors; standard deviations within 10 %), the two Gaussian shells and the egg-box of
//! Feroz & Hobson (2008, §6.2; Feroz, Hobson & Bridges 2009, §6.1–6.2): every mode found,
//! ln Z within 0.3.

use nested_sampler::{run, Options};

#[test]
fn ten_dimensional_correlated_gaussian() {
    let d = 10;
    // Covariance: σ_i = 0.02 + 0.004 i, correlation 0.6 between neighbours (AR(1)-like).
    let sig: Vec<f64> = (0..d).map(|i| 0.02 + 0.004 * i as f64).collect();
    let rho = 0.6f64;
    // Precision matrix of an AR(1) correlation: tridiagonal.
    let mut prec = vec![0.0; d * d];
    let c = 1.0 / (1.0 - rho * rho);
    for i in 0..d {
        prec[i * d + i] = c * if i == 0 || i == d - 1 { 1.0 } else { 1.0 + rho * rho } / (sig[i] * sig[i]);
        if i + 1 < d {
            let v = -c * rho / (sig[i] * sig[i + 1]);
            prec[i * d + i + 1] = v;
            prec[(i + 1) * d + i] = v;
        }
    }
    let mu: Vec<f64> = (0..d).map(|i| 0.35 + 0.03 * i as f64).collect();
    let mut like = |x: &[f64]| {
        let dx: Vec<f64> = x.iter().zip(&mu).map(|(a, m)| a - m).collect();
        let mut q = 0.0;
        for i in 0..d {
            for j in 0..d {
                q += dx[i] * prec[i * d + j] * dx[j];
            }
        }
        -0.5 * q
    };
    // Z = (2π)^{d/2} |Σ|^{1/2}; |Σ| = Π σ_i² · (1 − ρ²)^{d−1} for AR(1).
    let log_det: f64 = sig.iter().map(|s| 2.0 * s.ln()).sum::<f64>() + (d - 1) as f64 * (1.0 - rho * rho).ln();
    let truth = 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln() + 0.5 * log_det;
    let r = run(d, &mut like, &Options { n_live: 1000, seed: 21, ..Default::default() }).unwrap();
    eprintln!("10-D: ln Z {:.3} ± {:.3} (truth {truth:.3}), ESS {:.0}, {} calls", r.log_z, r.log_z_err, r.ess, r.n_calls);
    assert!(r.converged);
    assert!((r.log_z - truth).abs() < 3.0 * r.log_z_err && (r.log_z - truth).abs() < 0.2);
    for i in 0..d {
        let mean: f64 = r.samples.iter().zip(&r.weights).map(|(s, w)| s[i] * w).sum();
        let sd = r.samples.iter().zip(&r.weights).map(|(s, w)| (s[i] - mean).powi(2) * w).sum::<f64>().sqrt();
        let mc_err = sd / r.ess.sqrt();
        assert!((mean - mu[i]).abs() < 3.0 * mc_err, "axis {i}: mean {mean:.5} vs {:.5} (MC error {mc_err:.5})", mu[i]);
        assert!((sd / sig[i] - 1.0).abs() < 0.1, "axis {i}: sd {sd:.5} vs {:.5}", sig[i]);
    }
}

#[test]
fn two_gaussian_shells() {
    // Prior uniform on [−6, 6]²; shells of radius 2, width 0.1 at (±3.5, 0): ln Z = −1.75.
    let (r0, w) = (2.0f64, 0.1f64);
    let shell = |x: f64, y: f64, cx: f64| {
        let d = ((x - cx).powi(2) + y * y).sqrt();
        -((d - r0).powi(2)) / (2.0 * w * w) - 0.5 * (2.0 * std::f64::consts::PI * w * w).ln()
    };
    let mut like = |u: &[f64]| {
        let (x, y) = (12.0 * u[0] - 6.0, 12.0 * u[1] - 6.0);
        let (a, b) = (shell(x, y, -3.5), shell(x, y, 3.5));
        let m = a.max(b);
        m + ((a - m).exp() + (b - m).exp()).ln()
    };
    let r = run(2, &mut like, &Options { n_live: 1000, seed: 2, ..Default::default() }).unwrap();
    // Exact: ∫ shell dx dy = 2π ∫ r N(r; r0, w) dr = 2π r0 (the Gaussian is far from r = 0).
    let truth = (2.0 * 2.0 * std::f64::consts::PI * r0 / 144.0).ln();
    eprintln!("shells: ln Z {:.3} ± {:.3} (truth {truth:.3}), {} calls", r.log_z, r.log_z_err, r.n_calls);
    assert!((r.log_z - truth).abs() < 0.3);
    let left: f64 = r.samples.iter().zip(&r.weights).filter(|(s, _)| s[0] < 0.5).map(|(_, w)| w).sum();
    assert!((0.3..0.7).contains(&left), "weight in the left shell {left}");
}

#[test]
fn egg_box_every_mode() {
    // L = exp[(2 + cos(x/2) cos(y/2))^5] on [0, 10π]²: 18 modes; ln Z = 235.88 (Feroz et al. 2009).
    let mut like = |u: &[f64]| {
        let (x, y) = (10.0 * std::f64::consts::PI * u[0], 10.0 * std::f64::consts::PI * u[1]);
        (2.0 + (x / 2.0).cos() * (y / 2.0).cos()).powi(5)
    };
    let r = run(2, &mut like, &Options { n_live: 1000, seed: 7, ..Default::default() }).unwrap();
    // The published value is ln of the integral over [0, 10π]² divided by the prior area,
    // which is what the unit cube gives.
    let truth = 235.88;
    eprintln!("egg-box: ln Z {:.3} ± {:.3} (truth {truth:.3}), {} calls", r.log_z, r.log_z_err, r.n_calls);
    assert!(r.converged);
    assert!((r.log_z - truth).abs() < 0.3);
    // Every peak (x, y) = (2πm, 2πn), m + n even, holds posterior weight.
    let mut found = 0;
    let mut peaks = 0;
    for m in 0..=5 {
        for n in 0..=5 {
            if (m + n) % 2 != 0 {
                continue;
            }
            peaks += 1;
            let (px, py) = (m as f64 / 5.0, n as f64 / 5.0);
            let w: f64 = r
                .samples
                .iter()
                .zip(&r.weights)
                .filter(|(s, _)| (s[0] - px).abs() < 0.05 && (s[1] - py).abs() < 0.05)
                .map(|(_, w)| w)
                .sum();
            if w > 0.002 {
                found += 1;
            }
        }
    }
    assert_eq!((found, peaks), (18, 18));
}
