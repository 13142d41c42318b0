//! Stellar-population physics shared by the simulator and the SED fit: the Calzetti
//! et al. (2000) attenuation curve and parametric star-formation histories integrated
//! over the template age bins.

/// Calzetti et al. (2000, ApJ 533, 682) attenuation curve k(λ) (their eq. 4), λ in Å
/// (rest frame, vacuum or air: the curve is smooth at this precision), R_V = 4.05.
pub fn calzetti_k(lambda: f64) -> f64 {
    let x = lambda / 1.0e4; // µm
    const RV: f64 = 4.05;
    if x >= 0.63 {
        2.659 * (-1.857 + 1.040 / x) + RV
    } else {
        let x = x.max(0.09);
        2.659 * (-2.156 + 1.509 / x - 0.198 / x.powi(2) + 0.011 / x.powi(3)) + RV
    }
    .max(0.0)
}

/// Attenuation factor 10^(−0.4 A_λ) for V-band attenuation `av` (A_λ = Av k(λ) / R_V).
pub fn calzetti_factor(lambda: f64, av: f64) -> f64 {
    10f64.powf(-0.4 * av * calzetti_k(lambda) / 4.05)
}

/// ∫₀ᵗ x e^{−x/τ} dx = τ² [1 − e^{−t/τ}(1 + t/τ)]: the mass a delayed-τ history has
/// formed t Gyr after it began (unnormalised).
pub fn delayed_tau_cumulative(t: f64, tau: f64) -> f64 {
    tau * tau * (1.0 - (-t / tau).exp() * (1.0 + t / tau))
}

/// A parametric star-formation history (Carnall et al. 2018, MNRAS 480, 4379, §3.1
/// uses the same families). `age` is the time since star formation began, Gyr.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sfh {
    /// SFR ∝ t e^{−t/τ}, t since the start.
    DelayedTau {
        /// Gyr since the start.
        age: f64,
        /// τ, Gyr.
        tau: f64,
    },
    /// SFR ∝ e^{−t/τ}.
    Exponential {
        /// Gyr since the start.
        age: f64,
        /// τ, Gyr.
        tau: f64,
    },
    /// Constant SFR from `age` ago until `age - duration` ago (a burst when short).
    Constant {
        /// Gyr ago the burst began.
        age: f64,
        /// Its length, Gyr.
        duration: f64,
    },
}

impl Sfh {
    /// Mass formed (unnormalised) at times since the start in [0, t].
    fn cumulative(&self, t: f64) -> f64 {
        let t = t.max(0.0);
        match *self {
            Sfh::DelayedTau { tau, age } => delayed_tau_cumulative(t.min(age), tau),
            Sfh::Exponential { tau, age } => tau * (1.0 - (-t.min(age) / tau).exp()),
            Sfh::Constant { duration, .. } => t.min(duration),
        }
    }

    fn start(&self) -> f64 {
        match *self {
            Sfh::DelayedTau { age, .. } | Sfh::Exponential { age, .. } | Sfh::Constant { age, .. } => age,
        }
    }

    /// Fraction of the total formed mass formed between lookback times `lb1 < lb2` (Gyr).
    pub fn fraction_between(&self, lb1: f64, lb2: f64) -> f64 {
        let age = self.start();
        let total = self.cumulative(age);
        if total <= 0.0 {
            return 0.0;
        }
        let (a, b) = ((age - lb2).max(0.0), (age - lb1).max(0.0));
        (self.cumulative(b) - self.cumulative(a)) / total
    }

    /// Fraction of the formed mass in each template-age bin (edges at the geometric means
    /// of adjacent template ages; the first bin starts at 0 and the last is open).
    pub fn bin_fractions(&self, ages: &[f64]) -> Vec<f64> {
        let n = ages.len();
        let mut edges = vec![0.0; n + 1];
        for i in 1..n {
            edges[i] = (ages[i - 1] * ages[i]).sqrt();
        }
        edges[n] = f64::INFINITY;
        let w: Vec<f64> = (0..n).map(|i| self.fraction_between(edges[i], edges[i + 1].min(self.start().max(edges[i])))).collect();
        let s: f64 = w.iter().sum();
        if s > 0.0 {
            w.iter().map(|x| x / s).collect()
        } else {
            // Younger than the first bin edge: all mass in the youngest template.
            let mut v = vec![0.0; n];
            if n > 0 {
                v[0] = 1.0;
            }
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_sum_to_one_and_follow_the_history() {
        let ages: Vec<f64> = (0..25).map(|i| 0.03 * 1.3f64.powi(i)).collect();
        for sfh in
            [Sfh::DelayedTau { age: 5.0, tau: 1.0 }, Sfh::Exponential { age: 8.0, tau: 0.5 }, Sfh::Constant { age: 0.2, duration: 0.2 }]
        {
            let w = sfh.bin_fractions(&ages);
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!((sfh.fraction_between(0.0, 100.0) - 1.0).abs() < 1e-12);
        }
        // Constant over the last 100 Myr of a 200 Myr history: half.
        assert!((Sfh::Constant { age: 0.2, duration: 0.2 }.fraction_between(0.0, 0.1) - 0.5).abs() < 1e-12);
        // A delayed-τ history with τ ≪ age formed almost nothing recently.
        assert!(Sfh::DelayedTau { age: 10.0, tau: 0.3 }.fraction_between(0.0, 0.1) < 1e-6);
        assert!((calzetti_k(5500.0) - 4.05).abs() < 0.1, "k(V) ≈ R_V");
    }
}
