//! Σ5 local density: Σ_N = N / (π d_N²) with d_N the projected comoving distance to the
//! N-th nearest neighbour (N = 5) among the galaxies within |Δv| ≤ 1000 km/s
//! (Dressler 1980; Baldry et al. 2006, MNRAS 373, 469, §2.3), and the fraction of the
//! d_N disc inside the survey footprint (`sigma_5_edge`), since a disc that runs off
//! the footprint misses neighbours and biases Σ5 low.
//!
//! Exact, not approximate: galaxies are sorted into redshift slabs no wider than the
//! narrowest velocity window, each slab gets a k-d tree of unit vectors, and a query
//! takes from each overlapping slab its nearest in-window neighbours in angle — the
//! union contains the true N nearest.
//!
//! Δv = c |z_j − z_i| / (1 + z_i); d = D_C(z_i) θ_ij (flat ΛCDM).

use std::num::NonZeroUsize;

use ard_core::cosmology::{Cosmology, C_KM_S};
use kiddo::{ImmutableKdTree, SquaredEuclidean};
use rayon::prelude::*;

use crate::geometry::{comoving_distances, unit_vector};

/// Settings of the Σ_N estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sigma5Config {
    /// N (5).
    pub n: usize,
    /// Half-width of the velocity window, km/s (1000).
    pub dv_kms: f64,
    /// HEALPix order of the footprint map used for the edge fraction (6: DESI's nside 64).
    pub footprint_order: u8,
}

impl Default for Sigma5Config {
    fn default() -> Self {
        Sigma5Config { n: 5, dv_kms: 1000.0, footprint_order: 6 }
    }
}

/// Σ_N of one galaxy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sigma5 {
    /// Σ_N, galaxies per comoving Mpc²; NaN with fewer than N neighbours in the window.
    pub sigma: f64,
    /// d_N, comoving Mpc.
    pub d_n: f64,
    /// Fraction of the d_N disc inside the footprint.
    pub edge_fraction: f64,
}

/// Σ_N for every galaxy (RA, Dec in degrees), the density-defining population being all of
/// them; `footprint` holds the HEALPix pixels (nested, `cfg.footprint_order`) observed.
pub fn sigma5(cosmo: &Cosmology, ra: &[f64], dec: &[f64], z: &[f64], footprint: &[u64], cfg: &Sigma5Config) -> Vec<Sigma5> {
    let n = ra.len();
    let unit: Vec<[f64; 3]> = (0..n).map(|i| unit_vector(ra[i], dec[i])).collect();
    let dc = comoving_distances(cosmo, z);
    let valid: Vec<usize> = (0..n).filter(|&i| z[i].is_finite() && z[i] >= 0.0 && ra[i].is_finite() && dec[i].is_finite()).collect();
    let nan = Sigma5 { sigma: f64::NAN, d_n: f64::NAN, edge_fraction: f64::NAN };
    if valid.len() <= cfg.n {
        return vec![nan; n];
    }
    let z_min = valid.iter().map(|&i| z[i]).fold(f64::INFINITY, f64::min);
    let z_max = valid.iter().map(|&i| z[i]).fold(f64::NEG_INFINITY, f64::max);
    let width = cfg.dv_kms / C_KM_S * (1.0 + z_min);
    let n_slabs = (((z_max - z_min) / width).floor() as usize + 1).max(1);
    let slab_of = |zi: f64| (((zi - z_min) / width).floor() as usize).min(n_slabs - 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_slabs];
    for &i in &valid {
        members[slab_of(z[i])].push(i);
    }
    let trees: Vec<Option<ImmutableKdTree<f64, 3>>> = members
        .par_iter()
        .map(|m| (!m.is_empty()).then(|| ImmutableKdTree::new_from_slice(&m.iter().map(|&i| unit[i]).collect::<Vec<_>>())))
        .collect();
    let mut footprint = footprint.to_vec();
    footprint.sort_unstable();
    let mut out = vec![nan; n];
    let results: Vec<(usize, Sigma5)> = valid
        .par_iter()
        .map(|&i| {
            let half = cfg.dv_kms / C_KM_S * (1.0 + z[i]);
            let (lo, hi) = (slab_of((z[i] - half).max(z_min)), slab_of(z[i] + half));
            let mut cand: Vec<f64> = Vec::new();
            for s in lo..=hi {
                let Some(tree) = &trees[s] else { continue };
                let size = members[s].len();
                let mut want = (4 * cfg.n).min(size);
                loop {
                    let found = tree.nearest_n::<SquaredEuclidean>(&unit[i], NonZeroUsize::new(want).unwrap_or(NonZeroUsize::MIN));
                    let inside: Vec<f64> = found
                        .iter()
                        .filter(|nb| {
                            let j = members[s][nb.item as usize];
                            j != i && (z[j] - z[i]).abs() <= half
                        })
                        .map(|nb| nb.distance)
                        .collect();
                    if inside.len() >= cfg.n || want == size {
                        cand.extend(inside.into_iter().take(cfg.n));
                        break;
                    }
                    want = (want * 4).min(size);
                }
            }
            if cand.len() < cfg.n {
                return (i, nan);
            }
            cand.sort_by(f64::total_cmp);
            let chord = cand[cfg.n - 1].sqrt();
            let theta = 2.0 * (chord / 2.0).min(1.0).asin();
            let d_n = dc[i] * theta;
            let sigma = cfg.n as f64 / (std::f64::consts::PI * d_n * d_n);
            (i, Sigma5 { sigma, d_n, edge_fraction: disc_fraction_inside(&unit[i], theta, &footprint, cfg.footprint_order) })
        })
        .collect();
    for (i, s) in results {
        out[i] = s;
    }
    out
}

/// Fraction of a disc of angular radius `theta` (radians) around `centre` that falls in
/// the footprint, from 64 points spread evenly over the disc (a Vogel sunflower).
pub fn disc_fraction_inside(centre: &[f64; 3], theta: f64, footprint_sorted: &[u64], order: u8) -> f64 {
    const SAMPLES: usize = 64;
    let helper = if centre[2].abs() < 0.9 { [0.0, 0.0, 1.0] } else { [1.0, 0.0, 0.0] };
    let cross = |a: [f64; 3], b: [f64; 3]| [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
    let e1 = cross(*centre, helper);
    let n1 = (e1[0] * e1[0] + e1[1] * e1[1] + e1[2] * e1[2]).sqrt();
    let e1 = e1.map(|v| v / n1);
    let e2 = cross(*centre, e1);
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    let inside = (0..SAMPLES)
        .filter(|&m| {
            let r = theta * ((m as f64 + 0.5) / SAMPLES as f64).sqrt();
            let phi = m as f64 * golden;
            let (s, c) = (r.sin(), r.cos());
            let p: [f64; 3] = std::array::from_fn(|k| c * centre[k] + s * (phi.cos() * e1[k] + phi.sin() * e2[k]));
            let lon = p[1].atan2(p[0]).rem_euclid(std::f64::consts::TAU);
            let lat = p[2].clamp(-1.0, 1.0).asin();
            footprint_sorted.binary_search(&cdshealpix::nested::hash(order, lon, lat)).is_ok()
        })
        .count();
    inside as f64 / SAMPLES as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use ard_core::cosmology::PLANCK18;

    fn random(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut u = crate::test_rng::uniform(seed);
        let (mut ra, mut dec, mut z) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..n {
            ra.push(150.0 + 4.0 * u());
            dec.push(1.0 + 4.0 * u());
            // A few exact ties in redshift and position exercise the edge cases.
            z.push(if k % 50 == 7 { 0.1 } else { 0.08 + 0.04 * u() });
        }
        (ra, dec, z)
    }

    fn brute(ra: &[f64], dec: &[f64], z: &[f64], n: usize, dv: f64) -> Vec<f64> {
        (0..ra.len())
            .map(|i| {
                let ui = unit_vector(ra[i], dec[i]);
                let half = dv / C_KM_S * (1.0 + z[i]);
                let mut d: Vec<f64> = (0..ra.len())
                    .filter(|&j| j != i && (z[j] - z[i]).abs() <= half)
                    .map(|j| {
                        let uj = unit_vector(ra[j], dec[j]);
                        let dot = (ui[0] * uj[0] + ui[1] * uj[1] + ui[2] * uj[2]).clamp(-1.0, 1.0);
                        dot.acos() * PLANCK18.comoving_distance(z[i])
                    })
                    .collect();
                d.sort_by(f64::total_cmp);
                if d.len() < n {
                    f64::NAN
                } else {
                    n as f64 / (std::f64::consts::PI * d[n - 1] * d[n - 1])
                }
            })
            .collect()
    }

    #[test]
    fn equals_brute_force_on_random_catalogues() {
        for (n, seed) in [(400, 1), (1500, 2)] {
            let (ra, dec, z) = random(n, seed);
            let cfg = Sigma5Config::default();
            let got = sigma5(&PLANCK18, &ra, &dec, &z, &[], &cfg);
            let want = brute(&ra, &dec, &z, 5, 1000.0);
            let mut nan = 0;
            for i in 0..n {
                if want[i].is_nan() {
                    assert!(got[i].sigma.is_nan(), "galaxy {i}: expected none");
                    nan += 1;
                } else {
                    // Same neighbour; distances agree to the table interpolation.
                    assert!((got[i].sigma / want[i] - 1.0).abs() < 1e-5, "galaxy {i}: {} vs {}", got[i].sigma, want[i]);
                }
            }
            assert!(nan < n / 2, "most galaxies have 5 neighbours");
        }
    }

    #[test]
    fn narrower_window_and_edge_fraction() {
        let (ra, dec, z) = random(800, 5);
        let wide = sigma5(&PLANCK18, &ra, &dec, &z, &[], &Sigma5Config::default());
        let narrow = sigma5(&PLANCK18, &ra, &dec, &z, &[], &Sigma5Config { dv_kms: 300.0, ..Default::default() });
        let want = brute(&ra, &dec, &z, 5, 300.0);
        for i in 0..ra.len() {
            if !want[i].is_nan() {
                assert!((narrow[i].sigma / want[i] - 1.0).abs() < 1e-5);
                assert!(narrow[i].sigma <= wide[i].sigma * (1.0 + 1e-9), "fewer neighbours, lower density");
            }
        }
        // Footprint = the order-6 pixels holding galaxies: central galaxies see ~all
        // of their disc inside, and with an empty footprint nothing is inside.
        let mut fp: Vec<u64> = ra.iter().zip(&dec).map(|(r, d)| cdshealpix::nested::hash(6, r.to_radians(), d.to_radians())).collect();
        fp.sort_unstable();
        fp.dedup();
        let s = sigma5(&PLANCK18, &ra, &dec, &z, &fp, &Sigma5Config::default());
        let central: Vec<f64> = (0..ra.len())
            .filter(|&i| (ra[i] - 152.0).abs() < 0.5 && (dec[i] - 3.0).abs() < 0.5 && !s[i].sigma.is_nan())
            .map(|i| s[i].edge_fraction)
            .collect();
        assert!(!central.is_empty() && central.iter().all(|&f| f > 0.9), "{central:?}");
        assert!(wide.iter().filter(|s| !s.sigma.is_nan()).all(|s| s.edge_fraction == 0.0));
    }
}
