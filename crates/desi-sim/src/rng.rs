//! The simulator's random streams: the workspace generator ([`ard_core::rng`],
//! xoshiro256** seeded through splitmix64) with one stream per (seed, object index), so
//! output does not depend on thread scheduling, and the distributions it draws from.

use ard_core::rng::Xoshiro256;

/// One random stream.
#[derive(Debug, Clone)]
pub struct Rng(Xoshiro256);

impl Rng {
    /// A generator for stream `stream` of seed `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        Rng(Xoshiro256::from_seed(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03)))
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0.uniform()
    }
    /// Uniform in [a, b).
    pub fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.uniform()
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    /// Integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n.saturating_sub(1))
    }
}
