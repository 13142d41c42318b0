//! Milky-Way extinction, as DESI's own software removes it: the R_V-dependent curve of
//! Fitzpatrick (1999, PASP 111, 63; §3 and Table 3) and the transmission of desiutil 4.0.1
//! `dust.dust_transmission`, A(λ) = [A(λ)/A(1 µm)] · 1.029 · E(B−V)_SFD — the Schlafly &
//! Finkbeiner (2011, ApJ 737, 103) recalibration of the SFD98 map, applied through
//! monochromatic extinctions only. As in desiutil, the curve is evaluated at the vacuum
//! wavelengths DESI's spectra use.
//!
//! Coadd fluxes are observed fluxes; the physics and SED layers divide them by this
//! transmission (and multiply the inverse variance by its square) before fitting, as
//! fastspecfit does. The ARD's stored spectra stay as observed.

/// What a column measured on corrected spectra says of it (docs/schema.md).
pub const CORRECTED: &str = "from the spectrum corrected for Milky-Way extinction (FIBERMAP EBV, desiutil dust_transmission)";

/// What a column measured on the spectra as observed says of it.
pub const NOT_CORRECTED: &str = "not corrected for Milky-Way extinction";

/// R_V = A(V)/E(B−V) of the diffuse Milky-Way ISM, desiutil's default.
pub const R_V: f64 = 3.1;

/// A(1 µm)/E(B−V)_SFD (desiutil `dust_transmission`'s factor 1.029).
const A_1UM_PER_EBV_SFD: f64 = 1.029;

/// Fitzpatrick (1999) UV parametrisation (Fitzpatrick & Massa 1990 form), for R_V: the
/// value of A(λ)/E(B−V) at inverse wavelength `x` (µm⁻¹).
fn uv_curve(x: f64, r_v: f64) -> f64 {
    let (x0, gamma, c3, c4) = (4.596, 0.99, 3.23, 0.41);
    let c2 = -0.824 + 4.717 / r_v;
    let c1 = 2.030 - 3.007 * c2;
    let far = (x.max(5.9) - 5.9).powi(2) * 0.5392 + (x.max(5.9) - 5.9).powi(3) * 0.05644;
    c1 + c2 * x + c3 * x * x / ((x * x - x0 * x0).powi(2) + (x * gamma).powi(2)) + c4 * far + r_v
}

/// A natural cubic spline through `(xs, ys)` (xs increasing), evaluated at `x` inside
/// the knots' range: the interpolant scipy's `CubicSpline(bc_type="natural")` gives.
struct NaturalSpline {
    xs: Vec<f64>,
    ys: Vec<f64>,
    /// Second derivatives at the knots (zero at both ends).
    m: Vec<f64>,
}

impl NaturalSpline {
    fn new(xs: Vec<f64>, ys: Vec<f64>) -> Self {
        let n = xs.len();
        let mut m = vec![0.0; n];
        if n > 2 {
            // Tridiagonal system for the interior second derivatives (Thomas algorithm).
            let h: Vec<f64> = xs.windows(2).map(|w| w[1] - w[0]).collect();
            let (mut diag, mut rhs) = (vec![0.0; n], vec![0.0; n]);
            for i in 1..n - 1 {
                diag[i] = 2.0 * (h[i - 1] + h[i]);
                rhs[i] = 6.0 * ((ys[i + 1] - ys[i]) / h[i] - (ys[i] - ys[i - 1]) / h[i - 1]);
            }
            for i in 2..n - 1 {
                let w = h[i - 1] / diag[i - 1];
                diag[i] -= w * h[i - 1];
                rhs[i] -= w * rhs[i - 1];
            }
            for i in (1..n - 1).rev() {
                m[i] = (rhs[i] - h[i] * m[i + 1]) / diag[i];
            }
        }
        NaturalSpline { xs, ys, m }
    }

    fn at(&self, x: f64) -> f64 {
        let k = self.xs.partition_point(|&v| v <= x).clamp(1, self.xs.len() - 1) - 1;
        let h = self.xs[k + 1] - self.xs[k];
        let (a, b) = ((self.xs[k + 1] - x) / h, (x - self.xs[k]) / h);
        a * self.ys[k] + b * self.ys[k + 1] + ((a.powi(3) - a) * self.m[k] + (b.powi(3) - b) * self.m[k + 1]) * h * h / 6.0
    }
}

/// A(λ)/A(V) of Fitzpatrick (1999) for `r_v`, at wavelengths `wave` in Å: the UV
/// parametrisation shortward of 2700 Å, and the natural cubic spline through the
/// optical/IR anchors (Table 3: 26500, 12200, 6000, 5470, 4670, 4110 Å and 0 µm⁻¹) and
/// two UV anchors (2700, 2600 Å) elsewhere — the construction of desiutil `ext_fitzpatrick`.
pub fn fitzpatrick99(wave: &[f64], r_v: f64) -> Vec<f64> {
    let polyval = |p: &[f64]| p.iter().fold(0.0, |acc, c| acc * r_v + c);
    let uv_anchors = [1e4 / 2700.0, 1e4 / 2600.0];
    let mut xs = vec![0.0, 1e4 / 26500.0, 1e4 / 12200.0, 1e4 / 6000.0, 1e4 / 5470.0, 1e4 / 4670.0, 1e4 / 4110.0];
    let mut ys = vec![
        0.0,
        0.26469 * r_v / 3.1,
        0.82925 * r_v / 3.1,
        polyval(&[2.13572e-04, 1.00270, -4.22809e-01]),
        polyval(&[-7.35778e-05, 1.00216, -5.13540e-02]),
        polyval(&[-3.32598e-05, 1.00184, 7.00127e-01]),
        polyval(&[-4.45636e-05, 7.97809e-04, -5.46959e-03, 1.01707, 1.19456]),
    ];
    xs.extend(uv_anchors);
    ys.extend(uv_anchors.map(|x| uv_curve(x, r_v)));
    let spline = NaturalSpline::new(xs, ys);
    wave.iter()
        .map(|&w| {
            let x = 1e4 / w;
            let a_per_ebv = if x >= uv_anchors[0] { uv_curve(x, r_v) } else { spline.at(x) };
            a_per_ebv / r_v
        })
        .collect()
}

/// The Milky-Way extinction curve on one wavelength grid, A(λ) per unit E(B−V)_SFD,
/// computed once and applied to every spectrum on that grid.
#[derive(Debug, Clone)]
pub struct MilkyWay {
    a_per_ebv: Vec<f64>,
}

impl MilkyWay {
    /// The curve on `wave` (vacuum Å), R_V = 3.1.
    pub fn new(wave: &[f64]) -> Self {
        let at_1um = fitzpatrick99(&[1e4], R_V)[0];
        MilkyWay { a_per_ebv: fitzpatrick99(wave, R_V).into_iter().map(|a| a / at_1um * A_1UM_PER_EBV_SFD).collect() }
    }

    /// Transmission 10^(−0.4 A(λ)) at each wavelength for the SFD98 E(B−V) `ebv_sfd`
    /// (desiutil `dust_transmission(wave, ebv_sfd)`).
    pub fn transmission(&self, ebv_sfd: f64) -> Vec<f64> {
        self.a_per_ebv.iter().map(|a| 10f64.powf(-0.4 * a * ebv_sfd)).collect()
    }

    /// The transmission for a FIBERMAP EBV (SFD), or `None` where no correction applies
    /// (EBV missing, NaN or ≤ 0).
    pub fn transmission_of(&self, ebv_sfd: Option<f64>) -> Option<Vec<f64>> {
        ebv_sfd.filter(|e| e.is_finite() && *e > 0.0).map(|e| self.transmission(e))
    }

    /// Flux and ivar corrected for the Milky Way: flux / T, ivar · T² (unchanged where
    /// [`MilkyWay::transmission_of`] gives none).
    pub fn correct(&self, flux: &[f32], ivar: &[f32], ebv_sfd: Option<f64>) -> (Vec<f32>, Vec<f32>) {
        match self.transmission_of(ebv_sfd) {
            None => (flux.to_vec(), ivar.to_vec()),
            Some(t) => {
                let f = flux.iter().zip(&t).map(|(&f, &t)| (f as f64 / t) as f32).collect();
                let iv = ivar.iter().zip(&t).map(|(&iv, &t)| (iv as f64 * t * t) as f32).collect();
                (f, iv)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The curve's defining values: A(V)/A(V) = 1 near 5470 Å (an anchor of the spline,
    /// where Fitzpatrick's R_V polynomial gives ≈ R_V), and the spline passes its anchors.
    #[test]
    fn anchors_and_normalisation() {
        let a = fitzpatrick99(&[5470.0, 4110.0, 26500.0], 3.1);
        assert!((a[0] - 1.0).abs() < 0.02, "A(5470)/A(V) = {}", a[0]);
        assert!(a[1] > a[0] && a[2] < 0.1, "{a:?}");
        // Natural spline through a parabola's samples reproduces the knots exactly.
        let s = NaturalSpline::new(vec![0.0, 1.0, 2.0, 4.0], vec![0.0, 1.0, 4.0, 16.0]);
        for (x, y) in [(0.0, 0.0), (1.0, 1.0), (2.0, 4.0), (4.0, 16.0)] {
            assert!((s.at(x) - y).abs() < 1e-12);
        }
        // Continuous where the UV formula takes over (2700 Å is a spline knot).
        let c = fitzpatrick99(&[2700.0 * (1.0 + 1e-9), 2700.0 * (1.0 - 1e-9)], 3.1);
        assert!((c[0] - c[1]).abs() < 1e-6, "{c:?}");
    }

    #[test]
    fn correction_undoes_reddening() {
        let wave: Vec<f64> = (0..100).map(|i| 3600.0 + 62.0 * i as f64).collect();
        let mw = MilkyWay::new(&wave);
        let t = mw.transmission(0.1);
        assert!(t.windows(2).all(|w| w[1] > w[0]), "transmission rises to the red");
        let flux: Vec<f32> = t.iter().map(|&t| (2.0 * t) as f32).collect();
        let ivar: Vec<f32> = t.iter().map(|&t| (4.0 / (t * t)) as f32).collect();
        let (f, iv) = mw.correct(&flux, &ivar, Some(0.1));
        assert!(f.iter().all(|&v| (v - 2.0).abs() < 1e-5) && iv.iter().all(|&v| (v - 4.0).abs() < 1e-4));
        assert_eq!(mw.correct(&flux, &ivar, None).0, flux);
        assert_eq!(mw.correct(&flux, &ivar, Some(f64::NAN)).1, ivar);
    }
}
