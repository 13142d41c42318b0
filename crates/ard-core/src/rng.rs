//! The one pseudo-random generator of the workspace: xoshiro256** (Blackman & Vigna
//! 2021, ACM TOMS 47, 36) seeded through splitmix64 (Steele, Lea & Flood 2014). Small,
//! fast and the same on every platform, so simulated samples and posterior samples are
//! reproducible bit for bit. Callers add only their own seeding and distributions
//! (the simulator's per-object streams, the nested sampler's ball sampling).

/// One splitmix64 step: advances `state` and returns the next output.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The xoshiro256** generator.
#[derive(Debug, Clone)]
pub struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    /// The generator whose state is four splitmix64 outputs from `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let mut x = seed;
        Xoshiro256 { s: [splitmix64(&mut x), splitmix64(&mut x), splitmix64(&mut x), splitmix64(&mut x)] }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let r = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        r
    }

    /// Uniform in [0, 1): the top 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // splitmix64 from 0: the first output of the reference implementation.
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xE220_A839_7B1D_CDAF);
        // Streams are reproducible and differ between seeds.
        let (mut a, mut b, mut c) = (Xoshiro256::from_seed(42), Xoshiro256::from_seed(42), Xoshiro256::from_seed(43));
        let xa: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(xa, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(xa, (0..4).map(|_| c.next_u64()).collect::<Vec<_>>());
        assert!((0..1000).map(|_| a.uniform()).all(|u| (0.0..1.0).contains(&u)));
    }
}
