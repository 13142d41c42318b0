//! `nested-sampler`: nested sampling (Skilling 2004, AIP Conf. Proc. 735, 395; Skilling
//! 2006, Bayesian Analysis 1, 833) with multi-ellipsoid rejection sampling (Mukherjee,
//! Parkinson & Liddle 2006; Feroz & Hobson 2008 — the MultiNest family). Generic: a
//! log-likelihood over the unit hypercube (the caller maps the cube to its prior), no
//! astronomy in it.
//!
//! Why this sampler rather than nautilus-style importance nested sampling: the problems
//! it is built for (the SED layer's 5–8 parameter posteriors, one galaxy at a time, many
//! millions of galaxies, each on one core) are low-dimensional and mostly unimodal with
//! curved degeneracies, where ellipsoid unions bound the likelihood contours tightly and
//! rejection sampling inside them is exact, needs no tuning, no neural network and no
//! GPU, and makes the run a deterministic function of the seed. Multi-ellipsoid
//! decomposition (recursive 2-means, kept when the children's volume is under half the
//! parent's) keeps the efficiency on bananas and multiple modes.
//!
//! Each iteration replaces the lowest-likelihood live point by a draw from the union of
//! the bounding ellipsoids (uniform over the union: choose an ellipsoid by volume, draw
//! in it, keep with probability 1/(ellipsoids containing the point)) that beats it. The
//! prior volume shrinks as X_i = exp(−i/n); the evidence is Σ L_i (X_{i−1} − X_i) plus the
//! live points' share at the end, its error √(H/n) from the information H (Skilling 2006,
//! §9); the run stops when the live points could add less than `dlogz` to ln Z.
//! [`NestedResult`] holds ln Z ± σ, every dead and final live point with its posterior
//! weight, the effective sample size and the number of likelihood calls;
//! [`weighted_quantile`] gives posterior percentiles.
#![deny(missing_docs)]

pub mod ellipsoid;
pub mod rng;

use ellipsoid::{covariance_cholesky, decompose, Ellipsoid};
use rng::Rng;

/// Settings of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Live points.
    pub n_live: usize,
    /// Stop when the live points could still add less than this to ln Z.
    pub dlogz: f64,
    /// Linear enlargement of each bounding ellipsoid (1.2 ⇒ volume × 1.2^d).
    pub enlarge: f64,
    /// Rebuild the ellipsoids every this many iterations.
    pub update_interval: usize,
    /// Give up after this many likelihood calls (the result says it did not converge).
    pub max_calls: usize,
    /// When this many rejection draws in a row fail, new points come from a random walk
    /// inside the likelihood contour instead (Skilling 2006, §7; dynesty's `rwalk`).
    pub rejection_limit: usize,
    /// Accepted-or-not steps of each random walk.
    pub walk_steps: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            n_live: 400,
            dlogz: 0.01,
            enlarge: 1.25,
            update_interval: 40,
            max_calls: 2_000_000,
            rejection_limit: 100,
            walk_steps: 25,
            seed: 1,
        }
    }
}

/// Errors of a run.
#[derive(Debug, thiserror::Error)]
pub enum NestedError {
    /// The problem has no parameters.
    #[error("nested sampling: dimension 0")]
    NoDimensions,
    /// Too few live points to fit the bounding ellipsoids.
    #[error("nested sampling: {n_live} live points are too few for {dim} dimensions (need ≥ {needed})")]
    TooFewLivePoints {
        /// Live points asked for.
        n_live: usize,
        /// Dimensions.
        dim: usize,
        /// The minimum, 2 (dim + 1).
        needed: usize,
    },
    /// The stopping tolerance or ellipsoid enlargement is out of range.
    #[error("nested sampling: dlogz must be > 0 and enlarge ≥ 1 (given dlogz = {dlogz}, enlarge = {enlarge})")]
    BadTolerance {
        /// The stopping tolerance given.
        dlogz: f64,
        /// The enlargement given.
        enlarge: f64,
    },
    /// The likelihood returned NaN or +∞.
    #[error("nested sampling: the log-likelihood is {value} at {point:?}")]
    BadLikelihood {
        /// The value.
        value: f64,
        /// Where (unit cube).
        point: Vec<f64>,
    },
    /// Every initial point has zero likelihood.
    #[error("nested sampling: the likelihood is zero over all {0} initial points")]
    ZeroLikelihood(usize),
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct NestedResult {
    /// ln Z.
    pub log_z: f64,
    /// Its 1σ error, √(H / n_live).
    pub log_z_err: f64,
    /// Information H (nats).
    pub information: f64,
    /// Samples (unit-cube coordinates), dead points then the final live points.
    pub samples: Vec<Vec<f64>>,
    /// ln L of each sample.
    pub log_l: Vec<f64>,
    /// Normalised posterior weight of each sample (they sum to 1).
    pub weights: Vec<f64>,
    /// Effective sample size, (Σw)² / Σw².
    pub ess: f64,
    /// Likelihood calls.
    pub n_calls: usize,
    /// Iterations (dead points).
    pub n_iter: usize,
    /// Whether the dlogz criterion was met (else max_calls stopped it).
    pub converged: bool,
}

fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// Skilling's (2006, §9) running information H = ∫ P ln(P/π) after adding a dead point
/// of weight·likelihood `log_wl` and likelihood `log_l`.
fn information_update(h: f64, log_z: f64, new_z: f64, log_wl: f64, log_l: f64) -> f64 {
    let old = if log_z > f64::NEG_INFINITY { (log_z - new_z).exp() * (h + log_z) } else { 0.0 };
    let v = (log_wl - new_z).exp() * log_l + old - new_z;
    if v.is_finite() {
        v
    } else {
        h
    }
}

fn check(value: f64, point: &[f64]) -> Result<f64, NestedError> {
    if value.is_nan() || value == f64::INFINITY {
        return Err(NestedError::BadLikelihood { value, point: point.to_vec() });
    }
    Ok(value)
}

/// Runs nested sampling of `log_likelihood` over the `dim`-dimensional unit cube.
pub fn run(dim: usize, log_likelihood: &mut dyn FnMut(&[f64]) -> f64, opts: &Options) -> Result<NestedResult, NestedError> {
    validate(dim, opts)?;
    let n = opts.n_live;
    let mut rng = Rng::new(opts.seed);
    let mut live: Vec<Vec<f64>> = (0..n).map(|_| (0..dim).map(|_| rng.uniform()).collect()).collect();
    let mut live_l: Vec<f64> = Vec::with_capacity(n);
    for p in &live {
        live_l.push(check(log_likelihood(p), p)?);
    }
    let mut n_calls = n;
    if live_l.iter().all(|l| *l == f64::NEG_INFINITY) {
        return Err(NestedError::ZeroLikelihood(n));
    }
    let mut dead = Dead::new();
    let log_shrink = ((1.0 / n as f64).exp() - 1.0).ln(); // ln(e^{1/n} − 1)
    let mut proposer = Proposer::new();
    let mut since_update = usize::MAX;
    let mut converged = false;
    let mut iter = 0usize;
    loop {
        // 1. The worst live point dies with weight X_i (e^{1/n} − 1), X_i = e^{−(i+1)/n}.
        let log_x = -(iter as f64) / n as f64;
        let worst = (0..n).min_by(|&a, &b| live_l[a].total_cmp(&live_l[b]).then(a.cmp(&b))).unwrap_or(0);
        let l_min = live_l[worst];
        dead.push(live[worst].clone(), l_min, log_x + log_shrink - 1.0 / n as f64);
        iter += 1;
        // 2. Stop when even the best live point over the remaining volume adds little.
        let l_max = live_l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log_x_now = -(iter as f64) / n as f64;
        if log_add(dead.log_z, l_max + log_x_now) - dead.log_z < opts.dlogz {
            converged = true;
            break;
        }
        if n_calls >= opts.max_calls {
            break;
        }
        // 3. Replace it by a point inside the contour L > l_min.
        if since_update >= opts.update_interval {
            proposer.refit(&live, opts.enlarge, log_x_now);
            since_update = 0;
        }
        since_update += 1;
        let contour = Contour { live: &live, live_l: &live_l, worst, l_min };
        match proposer.replacement(&contour, &mut rng, log_likelihood, &mut n_calls, opts)? {
            Some((x, l)) => {
                live[worst] = x;
                live_l[worst] = l;
            }
            None => break,
        }
    }
    // The live points share the remaining volume equally.
    let log_x_end = -(iter as f64) / n as f64 - (n as f64).ln();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| live_l[a].total_cmp(&live_l[b]).then(a.cmp(&b)));
    for i in order {
        dead.push(live[i].clone(), live_l[i], log_x_end);
    }
    Ok(dead.finish(n, n_calls, iter, converged))
}

fn validate(dim: usize, opts: &Options) -> Result<(), NestedError> {
    if dim == 0 {
        return Err(NestedError::NoDimensions);
    }
    let n = opts.n_live;
    if n < 2 * (dim + 1) {
        return Err(NestedError::TooFewLivePoints { n_live: n, dim, needed: 2 * (dim + 1) });
    }
    if !(opts.dlogz > 0.0) || !(opts.enlarge >= 1.0) {
        return Err(NestedError::BadTolerance { dlogz: opts.dlogz, enlarge: opts.enlarge });
    }
    Ok(())
}

/// The dead points and the running evidence and information (Skilling 2006, §§ 3, 9).
struct Dead {
    samples: Vec<Vec<f64>>,
    log_l: Vec<f64>,
    log_w: Vec<f64>,
    log_z: f64,
    h: f64,
}

impl Dead {
    fn new() -> Self {
        Dead { samples: Vec::new(), log_l: Vec::new(), log_w: Vec::new(), log_z: f64::NEG_INFINITY, h: 0.0 }
    }

    /// Adds a point of ln L `l` and prior weight ln `log_w` to Z and H.
    fn push(&mut self, x: Vec<f64>, l: f64, log_w: f64) {
        let log_wl = log_w + l;
        let new_z = log_add(self.log_z, log_wl);
        if l > f64::NEG_INFINITY {
            self.h = information_update(self.h, self.log_z, new_z, log_wl, l);
        }
        self.log_z = new_z;
        self.samples.push(x);
        self.log_l.push(l);
        self.log_w.push(log_w);
    }

    /// The posterior weights, effective sample size and evidence error of the run.
    fn finish(self, n_live: usize, n_calls: usize, n_iter: usize, converged: bool) -> NestedResult {
        let log_z = self.log_z;
        let weights: Vec<f64> = self.log_l.iter().zip(&self.log_w).map(|(l, w)| (l + w - log_z).exp()).collect();
        let sum: f64 = weights.iter().sum();
        let weights: Vec<f64> = weights.iter().map(|w| w / sum).collect();
        let ess = 1.0 / weights.iter().map(|w| w * w).sum::<f64>();
        let h = self.h.max(0.0);
        NestedResult {
            log_z,
            log_z_err: (h / n_live as f64).sqrt(),
            information: h,
            samples: self.samples,
            log_l: self.log_l,
            weights,
            ess,
            n_calls,
            n_iter,
            converged,
        }
    }
}

/// The live points and the contour a replacement must beat.
struct Contour<'a> {
    live: &'a [Vec<f64>],
    live_l: &'a [f64],
    worst: usize,
    l_min: f64,
}

/// How replacements are drawn: uniformly in the cube, in the union of bounding
/// ellipsoids (Feroz, Hobson & Bridges 2009), or, once rejection sampling in the
/// ellipsoids has failed `rejection_limit` times since the last refit, by random walks.
struct Proposer {
    bounds: Option<Vec<Ellipsoid>>,
    chol: Vec<f64>,
    walking: bool,
    /// The random walk's step scale, adapted across replacements.
    walk_scale: f64,
}

impl Proposer {
    fn new() -> Self {
        Proposer { bounds: None, chol: Vec::new(), walking: false, walk_scale: 1.0 }
    }

    /// Refits the ellipsoids and the walk's covariance to the live points.
    fn refit(&mut self, live: &[Vec<f64>], enlarge: f64, log_x: f64) {
        let refs: Vec<&[f64]> = live.iter().map(|p| p.as_slice()).collect();
        let b = decompose(&refs, enlarge, log_x);
        // While the ellipsoids are bigger than the cube, the cube itself is better.
        let total = b.iter().map(|e| e.log_volume).fold(f64::NEG_INFINITY, log_add);
        self.bounds = if total < 0.0 { Some(b) } else { None };
        self.chol = covariance_cholesky(&refs);
        self.walking = false;
    }

    /// A new point with L > `c.l_min`, or None when the call budget is spent.
    fn replacement(
        &mut self,
        c: &Contour,
        rng: &mut Rng,
        log_likelihood: &mut dyn FnMut(&[f64]) -> f64,
        n_calls: &mut usize,
        opts: &Options,
    ) -> Result<Option<(Vec<f64>, f64)>, NestedError> {
        let n = c.live.len();
        let dim = c.live[0].len();
        let mut tries = 0usize;
        loop {
            if *n_calls >= opts.max_calls {
                return Ok(None);
            }
            if self.walking || (self.bounds.is_some() && tries >= opts.rejection_limit) {
                self.walking = true;
                let start = loop {
                    let k = (rng.uniform() * n as f64) as usize % n;
                    if k != c.worst || n == 1 {
                        break k;
                    }
                };
                let (x, l, calls) = random_walk(
                    &c.live[start],
                    c.live_l[start],
                    c.l_min,
                    &self.chol,
                    &mut self.walk_scale,
                    opts.walk_steps,
                    rng,
                    log_likelihood,
                )?;
                *n_calls += calls;
                return Ok(Some((x, l)));
            }
            let x: Vec<f64> = match &self.bounds {
                None => (0..dim).map(|_| rng.uniform()).collect(),
                Some(b) => match sample_union(b, rng) {
                    Some(x) => x,
                    None => continue,
                },
            };
            let l = check(log_likelihood(&x), &x)?;
            *n_calls += 1;
            tries += 1;
            if l > c.l_min {
                return Ok(Some((x, l)));
            }
        }
    }
}

/// A point drawn uniformly from the union of `b`: an ellipsoid picked by volume, a
/// point in it, kept with probability 1/(ellipsoids containing it); None when it is
/// rejected or outside the unit cube.
fn sample_union(b: &[Ellipsoid], rng: &mut Rng) -> Option<Vec<f64>> {
    let total = b.iter().map(|e| e.log_volume).fold(f64::NEG_INFINITY, log_add);
    let u = rng.uniform();
    let mut acc = 0.0;
    let mut pick = b.len() - 1;
    for (k, e) in b.iter().enumerate() {
        acc += (e.log_volume - total).exp();
        if u < acc {
            pick = k;
            break;
        }
    }
    let x = b[pick].sample(rng);
    if x.iter().any(|v| !(0.0..1.0).contains(v)) {
        return None;
    }
    let q = b.iter().filter(|e| e.contains(&x)).count().max(1);
    if q > 1 && rng.uniform() * q as f64 >= 1.0 {
        return None;
    }
    Some(x)
}

/// A random walk from a live point inside the contour L > `l_min`: Gaussian steps shaped
/// by the live points' covariance (Cholesky factor `chol`) times `scale`, a step kept when
/// it stays in the cube and above the contour. Walks until `steps` proposals are made and
/// at least one was accepted; `scale` adapts towards half the steps accepted. Returns the
/// end point, its ln L and the likelihood calls made.
#[allow(clippy::too_many_arguments)]
fn random_walk(
    start: &[f64],
    start_l: f64,
    l_min: f64,
    chol: &[f64],
    scale: &mut f64,
    steps: usize,
    rng: &mut Rng,
    log_likelihood: &mut dyn FnMut(&[f64]) -> f64,
) -> Result<(Vec<f64>, f64, usize), NestedError> {
    let d = start.len();
    let (mut x, mut lx) = (start.to_vec(), start_l);
    let (mut accepted, mut proposed, mut calls) = (0usize, 0usize, 0usize);
    while proposed < steps || accepted == 0 {
        proposed += 1;
        let z: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        let prop: Vec<f64> = (0..d).map(|i| x[i] + *scale * (0..=i).map(|k| chol[i * d + k] * z[k]).sum::<f64>()).collect();
        if proposed > 50 * steps.max(1) {
            // A contour too thin for the current scale: shrink harder and keep trying.
            *scale *= 0.5;
            proposed = 0;
        }
        if prop.iter().any(|v| !(0.0..1.0).contains(v)) {
            continue;
        }
        let l = check(log_likelihood(&prop), &prop)?;
        calls += 1;
        if l > l_min {
            x = prop;
            lx = l;
            accepted += 1;
        }
    }
    let rate = accepted as f64 / proposed.max(1) as f64;
    *scale = (*scale * ((rate + 0.05) / 0.55).powf(1.0 / d as f64)).clamp(1e-4, 10.0);
    Ok((x, lx, calls))
}

/// The weighted `q`-quantile (0 ≤ q ≤ 1) of `values` with `weights`: the value where the
/// cumulative weight, taken at each sample's midpoint, reaches q (linear in between).
pub fn weighted_quantile(values: &[f64], weights: &[f64], q: f64) -> Option<f64> {
    let mut pairs: Vec<(f64, f64)> =
        values.iter().copied().zip(weights.iter().copied()).filter(|(v, w)| v.is_finite() && *w > 0.0).collect();
    if pairs.is_empty() {
        return None;
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = pairs.iter().map(|p| p.1).sum();
    let mut cum = 0.0;
    let mut prev: Option<(f64, f64)> = None;
    for &(v, w) in &pairs {
        let mid = (cum + 0.5 * w) / total;
        if mid >= q {
            return Some(match prev {
                Some((pv, pm)) if mid > pm => pv + (v - pv) * (q - pm) / (mid - pm),
                _ => v,
            });
        }
        prev = Some((v, mid));
        cum += w;
    }
    pairs.last().map(|p| p.0)
}

impl NestedResult {
    /// Weighted quantile of a function of the samples (e.g. a parameter after the prior
    /// transform).
    pub fn quantile(&self, f: impl Fn(&[f64]) -> f64, q: f64) -> Option<f64> {
        let v: Vec<f64> = self.samples.iter().map(|s| f(s)).collect();
        weighted_quantile(&v, &self.weights, q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_weighted_samples() {
        let v: Vec<f64> = (0..1001).map(|i| i as f64 / 1000.0).collect();
        let w = vec![1.0; 1001];
        assert!((weighted_quantile(&v, &w, 0.5).unwrap() - 0.5).abs() < 1e-3);
        assert!((weighted_quantile(&v, &w, 0.16).unwrap() - 0.16).abs() < 2e-3);
        // Weight doubles a value's share.
        assert_eq!(weighted_quantile(&[1.0, 2.0, 3.0], &[1.0, 0.0, 1.0], 0.5), Some(2.0));
        assert_eq!(weighted_quantile(&[], &[], 0.5), None);
    }
}
