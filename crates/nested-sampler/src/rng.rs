//! The sampler's random draws: the workspace generator ([`ard_core::rng`], xoshiro256**
//! seeded through splitmix64), reproducible on every platform, and the distributions
//! the sampler needs.

use ard_core::rng::Xoshiro256;

/// The generator.
#[derive(Debug, Clone)]
pub struct Rng(Xoshiro256);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(Xoshiro256::from_seed(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0.uniform()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform();
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Uniform inside the unit d-ball.
    pub fn in_unit_ball(&mut self, d: usize) -> Vec<f64> {
        let g: Vec<f64> = (0..d).map(|_| self.normal()).collect();
        let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
        let r = self.uniform().powf(1.0 / d as f64);
        g.into_iter().map(|x| x * r / norm).collect()
    }
}
