//! The sampler against problems with known answers: ln Z of a Gaussian (3-d and 6-d, a
//! correlated one included) and of a two-mode mixture in 2-d, posterior means and widths,
//! and bit-for-bit determinism for a seed. Tolerances: ln Z within 3 reported σ plus
//! 0.05; means within 0.1σ_posterior·√(1/ESS) scale (checked loosely at 0.15σ); widths
//! within 10 %.

use nested_sampler::{run, Options};

fn gaussian(center: &[f64], sigma: f64) -> impl FnMut(&[f64]) -> f64 + '_ {
    move |x: &[f64]| -x.iter().zip(center).map(|(a, c)| (a - c).powi(2)).sum::<f64>() / (2.0 * sigma * sigma)
}

#[test]
fn gaussian_evidence_mean_and_width() {
    for (dim, sigma) in [(3usize, 0.05), (6, 0.08)] {
        let center: Vec<f64> = (0..dim).map(|i| 0.3 + 0.07 * i as f64).collect();
        let mut like = gaussian(&center, sigma);
        let r = run(dim, &mut like, &Options { seed: 11, ..Default::default() }).unwrap();
        let truth = 0.5 * dim as f64 * (2.0 * std::f64::consts::PI * sigma * sigma).ln();
        assert!(r.converged);
        eprintln!(
            "d={dim}: ln Z {:.3} ± {:.3} (truth {truth:.3}), ESS {:.0}, {} calls, {} iterations",
            r.log_z, r.log_z_err, r.ess, r.n_calls, r.n_iter
        );
        assert!((r.log_z - truth).abs() < 3.0 * r.log_z_err + 0.05, "d={dim}: ln Z {} ± {} vs {truth}", r.log_z, r.log_z_err);
        assert!(r.log_z_err > 0.05 && r.log_z_err < 0.3, "σ(ln Z) = {}", r.log_z_err);
        assert!(r.ess > 500.0, "ESS {}", r.ess);
        for (i, c) in center.iter().enumerate() {
            let mean: f64 = r.samples.iter().zip(&r.weights).map(|(s, w)| s[i] * w).sum();
            let var: f64 = r.samples.iter().zip(&r.weights).map(|(s, w)| (s[i] - mean).powi(2) * w).sum();
            assert!((mean - c).abs() < 0.15 * sigma, "d={dim} axis {i}: mean {mean} vs {c}");
            assert!((var.sqrt() / sigma - 1.0).abs() < 0.1, "d={dim} axis {i}: width {} vs {sigma}", var.sqrt());
            let median = r.quantile(|s| s[i], 0.5).unwrap();
            let p16 = r.quantile(|s| s[i], 0.16).unwrap();
            let p84 = r.quantile(|s| s[i], 0.84).unwrap();
            assert!((median - c).abs() < 0.15 * sigma);
            assert!(((p84 - p16) / (2.0 * sigma) - 1.0).abs() < 0.15, "16–84 % width {}", p84 - p16);
        }
        // Far fewer calls than the prior volume ratio would cost by plain rejection.
        assert!(r.n_calls < 60_000, "d={dim}: {} calls", r.n_calls);
    }
}

#[test]
fn correlated_banana_free_gaussian_and_two_modes() {
    // A strongly correlated 2-d Gaussian (ρ = 0.95): Z = 2π σ1 σ2 √(1−ρ²).
    let (s1, s2, rho) = (0.1f64, 0.05f64, 0.95f64);
    let mut like = |x: &[f64]| {
        let (a, b) = ((x[0] - 0.5) / s1, (x[1] - 0.5) / s2);
        -(a * a - 2.0 * rho * a * b + b * b) / (2.0 * (1.0 - rho * rho))
    };
    let r = run(2, &mut like, &Options { seed: 5, ..Default::default() }).unwrap();
    let truth = (2.0 * std::f64::consts::PI * s1 * s2 * (1.0 - rho * rho).sqrt()).ln();
    assert!((r.log_z - truth).abs() < 3.0 * r.log_z_err + 0.05, "{} ± {} vs {truth}", r.log_z, r.log_z_err);
    // Two equal modes: Z = 2 · 2πσ², half the posterior weight in each.
    let sigma = 0.03;
    let mut two = |x: &[f64]| {
        let d1 = (x[0] - 0.25).powi(2) + (x[1] - 0.25).powi(2);
        let d2 = (x[0] - 0.75).powi(2) + (x[1] - 0.7).powi(2);
        let (a, b) = (-d1 / (2.0 * sigma * sigma), -d2 / (2.0 * sigma * sigma));
        let m = a.max(b);
        m + ((a - m).exp() + (b - m).exp()).ln()
    };
    let r = run(2, &mut two, &Options { seed: 9, ..Default::default() }).unwrap();
    let truth = (2.0 * 2.0 * std::f64::consts::PI * sigma * sigma).ln();
    assert!((r.log_z - truth).abs() < 3.0 * r.log_z_err + 0.05, "{} ± {} vs {truth}", r.log_z, r.log_z_err);
    eprintln!("two modes: ln Z {:.3} ± {:.3} (truth {truth:.3}), {} calls", r.log_z, r.log_z_err, r.n_calls);
    let low: f64 = r.samples.iter().zip(&r.weights).filter(|(s, _)| s[0] < 0.5).map(|(_, w)| w).sum();
    assert!((low - 0.5).abs() < 0.1, "weight in the first mode {low}");
}

#[test]
fn deterministic_for_a_seed_and_clear_errors() {
    let c = [0.4, 0.6];
    let a = run(2, &mut gaussian(&c, 0.05), &Options { seed: 3, ..Default::default() }).unwrap();
    let b = run(2, &mut gaussian(&c, 0.05), &Options { seed: 3, ..Default::default() }).unwrap();
    assert_eq!(a, b);
    let d = run(2, &mut gaussian(&c, 0.05), &Options { seed: 4, ..Default::default() }).unwrap();
    assert_ne!(a.log_z, d.log_z);
    assert!((a.weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(run(2, &mut |_: &[f64]| f64::NAN, &Options::default()).unwrap_err().to_string().contains("NaN"));
    assert!(run(2, &mut |_: &[f64]| f64::NEG_INFINITY, &Options::default()).is_err());
    assert!(run(5, &mut |_: &[f64]| 0.0, &Options { n_live: 8, ..Default::default() }).is_err());
    // A likelihood-free problem (flat): ln Z = 0 exactly up to the sampler's error.
    let flat = run(3, &mut |_: &[f64]| 0.0, &Options::default()).unwrap();
    assert!(flat.log_z.abs() < 0.05, "{}", flat.log_z);
}
