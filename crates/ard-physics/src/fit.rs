//! The full-spectrum fit: stellar kinematics and emission lines together, written
//! from the papers (Cappellari & Emsellem 2004, PASP 116, 138 — "CE04"; Cappellari
//! 2017, MNRAS 466, 798 — "C17"; Cappellari 2023, MNRAS 526, 3273 — "C23"), not from
//! pPXF's code.
//!
//! Model of the spectrum G on the rest-frame ln λ grid (CE04 eq. 1–3, C17 eq. 1):
//!
//! G_mod(x) = P_m(x) · Σ_t w_t (T_t ∗ L_*)(x) + Σ_j g_j E_j(x; V_gas(j), σ_gas(j)),
//!
//! with T_t the E-MILES templates ([`crate::templates`]), L_* the stellar Gauss–Hermite
//! LOSVD applied through its analytic Fourier transform ([`crate::losvd`]), P_m a
//! multiplicative Legendre series 1 + Σ_{k=1..m} c_k P_k(x) on the fitted range (CE04
//! eq. 3 with the constant fixed, as the weights carry the scale), and E_j Gaussian
//! emission templates integrated over each pixel (C17 §3.3 and C23 §3.3: the analytic
//! pixel integral keeps unresolved lines exact) with σ² = σ_gas² + σ_inst²(λ_j). Balmer
//! lines share one (V, σ), forbidden and helium lines another; doublets are one
//! template with a fixed ratio ([`crate::lines`]).
//!
//! The template weights w ≥ 0 come from non-negative least squares at every trial of
//! the nonlinear parameters (CE04 §3.2: Lawson & Hanson's NNLS; the gas weights g are
//! unconstrained so that weak lines keep unbiased fluxes and honest errors). The
//! nonlinear parameters (V, σ [, h3, h4] per component and the c_k) are found by a
//! bounded Levenberg–Marquardt minimisation of χ² (C17 §3.4 uses a
//! Levenberg–Marquardt method too); its Jacobian is taken at fixed linear weights
//! (the variable-projection approximation of Kaufman 1975, BIT 15, 49), which costs one
//! inverse FFT per stellar parameter instead of one per template, while every trial
//! step is still judged on the exact χ² with re-solved weights. Formal errors come
//! from the inverse of JᵀJ with J holding the nonlinear derivatives and the columns
//! of the active linear weights, so line-flux errors include their covariance with the
//! kinematics and the continuum. After convergence, pixels deviating by more than 3σ
//! (σ rescaled so that χ²/dof = 1) are clipped and the fit is repeated until no new
//! pixel is clipped (the iterative clipping of C17 §3.5).

use ard_core::cosmology::C_KM_S;
use ard_core::special::erf;
use realfft::num_complex::Complex;

use crate::linalg::{nnls, spd_inverse, spd_solve, SparseColumns};
use crate::lines::{GasKind, GasLine, GAS_LINES};
use crate::losvd::Losvd;
use crate::prepare::Prepared;
use crate::templates::TemplateSet;

/// Settings of the fit (defaults: the reference settings).
#[derive(Debug, Clone, PartialEq)]
pub struct FitConfig {
    /// Degree of the multiplicative Legendre polynomial (pPXF's `mdegree`).
    pub mdegree: usize,
    /// Fit h3, h4 of the stellar LOSVD too (4 moments instead of 2).
    pub gauss_hermite: bool,
    /// Clipping threshold in (rescaled) σ; ≤ 0 disables clipping.
    pub clip_sigma: f64,
    /// Bound on |V| of every component, km/s, relative to the redrock redshift.
    pub v_bound: f64,
    /// Bounds on σ of every component, km/s.
    pub sigma_bounds: (f64, f64),
    /// Starting σ of the stars and of the gas, km/s.
    pub start_sigma: (f64, f64),
    /// Δχ² a broadened fit must beat an unbroadened one by for σ* to count as measured.
    pub min_dchi2_sigma: f64,
    /// Maximum Levenberg–Marquardt iterations per fit.
    pub max_iter: usize,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            mdegree: 10,
            gauss_hermite: false,
            clip_sigma: 3.0,
            v_bound: 1000.0,
            sigma_bounds: (1.0, 1000.0),
            start_sigma: (150.0, 50.0),
            min_dchi2_sigma: 25.0,
            max_iter: 60,
        }
    }
}

/// A fitted emission line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFlux {
    /// Index into [`GAS_LINES`].
    pub line: usize,
    /// Flux of the (strong) line, 1e-17 erg/s/cm², observed frame.
    pub flux: f64,
    /// Its 1σ error.
    pub err: f64,
}

/// Kinematics of one component.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kinematics {
    /// Velocity relative to the redrock redshift, km/s.
    pub v: f64,
    /// Its error.
    pub v_err: f64,
    /// Dispersion as fitted (relative to the broadened templates), km/s.
    pub sigma: f64,
    /// Its error.
    pub sigma_err: f64,
}

/// The result of a fit.
#[derive(Debug, Clone)]
pub struct FitResult {
    /// Stellar kinematics as fitted.
    pub stars: Kinematics,
    /// Stellar dispersion corrected for the template/instrument resolution difference, km/s.
    pub sigma_star: f64,
    /// Its error.
    pub sigma_star_err: f64,
    /// h3, h4 (zero unless fitted).
    pub h3_h4: (f64, f64),
    /// Whether σ* is constrained: Δχ² against an unbroadened fit ≥ the threshold and
    /// σ not at a bound.
    pub sigma_star_ok: bool,
    /// χ²(σ* at its lower bound) − χ²(best).
    pub dchi2_sigma: f64,
    /// Balmer-line kinematics, when any Balmer line is in range.
    pub balmer: Option<Kinematics>,
    /// Forbidden-line kinematics, when any such line is in range.
    pub forbidden: Option<Kinematics>,
    /// Every line in range.
    pub lines: Vec<LineFlux>,
    /// χ² of the final fit.
    pub chi2: f64,
    /// Degrees of freedom.
    pub dof: f64,
    /// Pixels clipped.
    pub n_clipped: usize,
    /// The fitted gas model on the input's linear grid (rest air edges of
    /// [`Prepared::lin_edges`]), in the input's flux units.
    pub gas_model_linear: Vec<f64>,
    /// The whole fitted model (stars × polynomial, plus gas) on the input's linear grid,
    /// in the input's flux units.
    pub model_linear: Vec<f64>,
    /// The input's linear pixels the final fit used: good, and every log pixel they
    /// overlap kept (not clipped, not masked).
    pub used_linear: Vec<bool>,
    /// χ² of `model_linear` over the `used_linear` pixels, from the input's own
    /// (independent) pixels and variances. The log-grid [`FitResult::chi2`] counts
    /// rebinning-correlated pixels as independent and comes out below it.
    pub chi2_native: f64,
    /// Degrees of freedom of `chi2_native`: used pixels less the fitted parameters.
    pub dof_native: usize,
}

/// Why the fit did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FitProblem {
    /// Fewer good pixels than parameters.
    TooFewPixels(usize),
    /// The linear problem or the covariance was singular.
    Singular,
}

/// Which parameter slot holds what.
#[derive(Debug, Clone)]
struct Layout {
    star_moments: usize,
    balmer: Option<usize>,
    forbidden: Option<usize>,
    mpoly: usize,
    n: usize,
}

struct Problem<'a> {
    spec: &'a Prepared,
    tpl: &'a TemplateSet,
    cfg: &'a FitConfig,
    rows: Vec<usize>,
    wt: Vec<f64>,
    b: Vec<f64>,
    legendre: Vec<Vec<f64>>,
    lines: Vec<usize>,
    layout: Layout,
    lower: Vec<f64>,
    upper: Vec<f64>,
}

struct Eval {
    chi2: f64,
    weights: Vec<f64>,
    /// Templates considered in this evaluation (all, or the LM's working subset).
    tpl_ids: Vec<usize>,
    /// Their LOSVD-convolved spectra on the rows, `tpl_ids.len() × m`.
    conv: Vec<f64>,
    mpoly: Vec<f64>,
    /// The whitened design matrix, column-major: the `tpl_ids` templates (× polynomial)
    /// then every gas line.
    a: Vec<f64>,
    resid: Vec<f64>,
    passive: Vec<usize>,
}

impl Eval {
    /// Whitened column of gas line `j`.
    fn gas_column(&self, j: usize, m: usize) -> &[f64] {
        let c = self.tpl_ids.len() + j;
        &self.a[c * m..(c + 1) * m]
    }
}

/// Legendre polynomials P_1..P_m at x (Bonnet's recursion).
fn legendre_values(m: usize, x: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(m);
    let (mut p0, mut p1) = (1.0, x);
    for k in 1..=m {
        if k == 1 {
            out.push(p1);
            continue;
        }
        let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
        out.push(p2);
        p0 = p1;
        p1 = p2;
    }
    out
}

/// Fraction of a unit Gaussian (centre `u0`, width `s`, in ln λ or pixels alike) that
/// falls in [a, b].
fn gaussian_fraction(a: f64, b: f64, u0: f64, s: f64) -> f64 {
    let r = std::f64::consts::SQRT_2 * s;
    0.5 * (erf((b - u0) / r) - erf((a - u0) / r))
}

/// Pixel-integrated Gaussian of unit flux (per rest Å) centred at ln λ = `u0` with
/// ln-λ width `s`, on the log grid of `spec`: (pixel, value) pairs.
fn gaussian_on_log_grid(spec: &Prepared, u0: f64, s: f64) -> Vec<(usize, f64)> {
    let p0 = (u0 - spec.ln_start) / spec.dln;
    let sp = s / spec.dln;
    let reach = (6.0 * sp + 2.0).ceil();
    let k0 = (p0 - reach).floor().max(0.0) as usize;
    let k1 = ((p0 + reach).ceil().max(0.0) as usize).min(spec.len().saturating_sub(1));
    let mut out = Vec::new();
    for k in k0..=k1 {
        let kf = k as f64;
        let frac = gaussian_fraction(kf - 0.5, kf + 0.5, p0, sp);
        if frac != 0.0 {
            out.push((k, frac / (spec.wave_at(kf) * spec.dln)));
        }
    }
    out
}

/// LSF σ (km/s) at rest wavelength `w`.
fn sigma_inst_at(spec: &Prepared, w: f64) -> f64 {
    let k = ((w.ln() - spec.ln_start) / spec.dln).round().max(0.0) as usize;
    spec.sigma_inst[k.min(spec.len() - 1)]
}

/// ln(1 + V/c): the shift in ln λ of a velocity V.
fn ln_shift(v: f64) -> f64 {
    (1.0 + v / C_KM_S).ln()
}

/// A gas template (line plus fixed-ratio partner) on the log grid.
fn gas_template(spec: &Prepared, line: &GasLine, v: f64, sigma: f64) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    let mut members = vec![(line.wave, 1.0)];
    if let Some(p) = line.partner {
        members.push(p);
    }
    for (w, ratio) in members {
        let s = (sigma * sigma + sigma_inst_at(spec, w).powi(2)).sqrt() / C_KM_S;
        for (k, val) in gaussian_on_log_grid(spec, w.ln() + ln_shift(v), s) {
            out.push((k, ratio * val));
        }
    }
    out
}

impl<'a> Problem<'a> {
    fn new(spec: &'a Prepared, tpl: &'a TemplateSet, cfg: &'a FitConfig, rows: Vec<usize>) -> Self {
        let n = spec.len();
        let wt: Vec<f64> = rows.iter().map(|&k| 1.0 / spec.var[k].sqrt()).collect();
        let b: Vec<f64> = rows.iter().zip(&wt).map(|(&k, w)| spec.flux[k] * w).collect();
        // The polynomial's x runs from −1 to 1 over the usable pixels, not the whole grid:
        // where a block of the spectrum is masked (a dead amplifier, or the pixels beyond a
        // library's reach), Legendre polynomials on part of their interval are far from
        // orthogonal and a degree-10 set becomes numerically dependent.
        let first = spec.good.iter().position(|&g| g).unwrap_or(0);
        let last = spec.good.iter().rposition(|&g| g).unwrap_or(n - 1).max(first + 1);
        let mut legendre = vec![Vec::with_capacity(rows.len()); cfg.mdegree];
        for &k in &rows {
            let x = (2.0 * (k as f64 - first as f64) / (last - first) as f64 - 1.0).clamp(-1.0, 1.0);
            for (d, v) in legendre_values(cfg.mdegree, x).into_iter().enumerate() {
                legendre[d].push(v);
            }
        }
        // Lines in range: the line centre among good pixels, with ≥ 3 good pixels within ±5 Å.
        let lo = spec.wave_at(0.0);
        let hi = spec.wave_at((n - 1) as f64);
        let lines: Vec<usize> = GAS_LINES
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                if l.wave < lo + 5.0 || l.wave > hi - 5.0 {
                    return false;
                }
                let k0 = ((((l.wave - 5.0).ln() - spec.ln_start) / spec.dln).max(0.0)) as usize;
                let k1 = ((((l.wave + 5.0).ln() - spec.ln_start) / spec.dln).max(0.0) as usize).min(n - 1);
                (k0..=k1).filter(|&k| spec.good[k]).count() >= 3
            })
            .map(|(i, _)| i)
            .collect();
        let has = |kind| lines.iter().any(|&i| GAS_LINES[i].kind == kind);
        let star_moments = if cfg.gauss_hermite { 4 } else { 2 };
        let mut next = star_moments;
        let balmer = if has(GasKind::Balmer) {
            next += 2;
            Some(next - 2)
        } else {
            None
        };
        let forbidden = if has(GasKind::Forbidden) {
            next += 2;
            Some(next - 2)
        } else {
            None
        };
        let layout = Layout { star_moments, balmer, forbidden, mpoly: next, n: next + cfg.mdegree };
        let (sl, su) = cfg.sigma_bounds;
        let mut lower = vec![f64::NEG_INFINITY; layout.n];
        let mut upper = vec![f64::INFINITY; layout.n];
        let mut kin = |at: usize| {
            lower[at] = -cfg.v_bound;
            upper[at] = cfg.v_bound;
            lower[at + 1] = sl;
            upper[at + 1] = su;
        };
        kin(0);
        if let Some(a) = layout.balmer {
            kin(a);
        }
        if let Some(a) = layout.forbidden {
            kin(a);
        }
        if star_moments == 4 {
            lower[2] = -0.3;
            upper[2] = 0.3;
            lower[3] = -0.3;
            upper[3] = 0.3;
        }
        Problem { spec, tpl, cfg, rows, wt, b, legendre, lines, layout, lower, upper }
    }

    fn start(&self) -> Vec<f64> {
        let mut t = vec![0.0; self.layout.n];
        t[1] = self.cfg.start_sigma.0;
        if let Some(a) = self.layout.balmer {
            t[a + 1] = self.cfg.start_sigma.1;
        }
        if let Some(a) = self.layout.forbidden {
            t[a + 1] = self.cfg.start_sigma.1;
        }
        t
    }

    fn gas_kin(&self, theta: &[f64], line: usize) -> (f64, f64) {
        let at = match GAS_LINES[line].kind {
            GasKind::Balmer => self.layout.balmer,
            GasKind::Forbidden => self.layout.forbidden,
        };
        match at {
            Some(a) => (theta[a], theta[a + 1]),
            None => (0.0, self.cfg.start_sigma.1),
        }
    }

    fn losvd(&self, theta: &[f64]) -> Losvd {
        let vs = self.spec.velscale();
        let (h3, h4) = if self.layout.star_moments == 4 { (theta[2], theta[3]) } else { (0.0, 0.0) };
        Losvd { v_pix: C_KM_S * ln_shift(theta[0]) / vs, sigma_pix: theta[1] / vs, h3, h4 }
    }

    /// Convolves one Fourier-space spectrum with the stellar LOSVD; values on the rows.
    fn convolve(
        &self,
        spectrum_hat: &[Complex<f64>],
        l_hat: &[(f64, f64)],
        out: &mut [f64],
        buf: &mut Vec<Complex<f64>>,
        real: &mut [f64],
    ) {
        let nfft = self.tpl.nfft;
        buf.clear();
        buf.extend(spectrum_hat.iter().zip(l_hat).map(|(s, (a, b))| s * Complex::new(*a, *b)));
        buf[0].im = 0.0;
        if nfft.is_multiple_of(2) {
            let last = buf.len() - 1;
            buf[last].im = 0.0;
        }
        let _ = self.tpl.inverse.process(buf, real);
        let m = self.tpl.margin;
        let inv_n = 1.0 / nfft as f64;
        for (o, &k) in out.iter_mut().zip(&self.rows) {
            *o = real[m + k] * inv_n;
        }
    }

    fn l_hat(&self, theta: &[f64]) -> Vec<(f64, f64)> {
        let mut l = vec![(0.0, 0.0); self.tpl.nfft / 2 + 1];
        self.losvd(theta).fourier(self.tpl.nfft, &mut l);
        l
    }

    fn row_index(&self) -> Vec<i64> {
        let mut idx = vec![-1i64; self.spec.len()];
        for (r, &k) in self.rows.iter().enumerate() {
            idx[k] = r as i64;
        }
        idx
    }

    /// Writes the whitened gas columns into `out` (`lines × m`, zeroed).
    fn gas_columns(&self, theta: &[f64], index: &[i64], out: &mut [f64]) {
        let m = self.rows.len();
        for (j, &li) in self.lines.iter().enumerate() {
            let (v, s) = self.gas_kin(theta, li);
            for (k, val) in gas_template(self.spec, &GAS_LINES[li], v, s) {
                let r = index[k];
                if r >= 0 {
                    let r = r as usize;
                    out[j * m + r] += val * self.wt[r];
                }
            }
        }
    }

    fn mpoly(&self, theta: &[f64]) -> Vec<f64> {
        let m = self.rows.len();
        let mut p = vec![1.0; m];
        for d in 0..self.cfg.mdegree {
            let c = theta[self.layout.mpoly + d];
            for (pi, li) in p.iter_mut().zip(&self.legendre[d]) {
                *pi += c * li;
            }
        }
        p
    }

    /// χ² at `theta` with weights re-solved by NNLS over the templates `subset` (all
    /// when `None`) and every gas line.
    fn evaluate(&self, theta: &[f64], warm: &[usize], subset: &[usize], index: &[i64]) -> Eval {
        let m = self.rows.len();
        let nt = self.tpl.count;
        let nh = self.tpl.nfft / 2 + 1;
        let tpl_ids: Vec<usize> = subset.to_vec();
        let k = tpl_ids.len();
        let l_hat = self.l_hat(theta);
        let mut conv = vec![0.0; k * m];
        let mut buf = Vec::with_capacity(nh);
        let mut real = vec![0.0; self.tpl.nfft];
        for (c, &t) in tpl_ids.iter().enumerate() {
            let (s, out) = (&self.tpl.spectra_hat[t * nh..(t + 1) * nh], &mut conv[c * m..(c + 1) * m]);
            self.convolve(s, &l_hat, out, &mut buf, &mut real);
        }
        let mpoly = self.mpoly(theta);
        let ng = self.lines.len();
        let ncol = k + ng;
        let mut a = vec![0.0; ncol * m];
        for c in 0..k {
            for r in 0..m {
                a[c * m + r] = conv[c * m + r] * mpoly[r] * self.wt[r];
            }
        }
        self.gas_columns(theta, index, &mut a[k * m..]);
        let nonneg: Vec<bool> = (0..ncol).map(|c| c < k).collect();
        let warm_cols: Vec<usize> = warm.iter().filter_map(|t| tpl_ids.iter().position(|x| x == t)).collect();
        let local = nnls(&a, m, ncol, &self.b, &nonneg, &warm_cols);
        let mut resid = vec![0.0; m];
        for (c, &w) in local.iter().enumerate() {
            if w != 0.0 {
                for (r, x) in resid.iter_mut().enumerate() {
                    *x += a[c * m + r] * w;
                }
            }
        }
        for (x, bi) in resid.iter_mut().zip(&self.b) {
            *x -= bi;
        }
        let chi2 = resid.iter().map(|x| x * x).sum();
        let mut weights = vec![0.0; nt + ng];
        for (c, &t) in tpl_ids.iter().enumerate() {
            weights[t] = local[c];
        }
        weights[nt..].copy_from_slice(&local[k..]);
        let passive = (0..nt).filter(|&t| weights[t] > 0.0).collect();
        Eval { chi2, weights, tpl_ids, conv, mpoly, a, resid, passive }
    }

    /// Stellar continuum (without the polynomial) on the rows for trial `theta` at
    /// the fixed weights of `ev`: one inverse FFT of Σ w_t T̂_t.
    fn stellar_sum(&self, theta: &[f64], sum_hat: &[Complex<f64>]) -> Vec<f64> {
        let mut out = vec![0.0; self.rows.len()];
        let mut buf = Vec::with_capacity(sum_hat.len());
        let mut real = vec![0.0; self.tpl.nfft];
        self.convolve(sum_hat, &self.l_hat(theta), &mut out, &mut buf, &mut real);
        out
    }

    fn gas_sum(&self, theta: &[f64], ev: &Eval, kind: GasKind, index: &[i64]) -> Vec<f64> {
        let m = self.rows.len();
        let nt = self.tpl.count;
        let mut out = vec![0.0; m];
        for (j, &li) in self.lines.iter().enumerate() {
            if GAS_LINES[li].kind != kind {
                continue;
            }
            let g = ev.weights[nt + j];
            let (v, s) = self.gas_kin(theta, li);
            for (k, val) in gas_template(self.spec, &GAS_LINES[li], v, s) {
                let r = index[k];
                if r >= 0 {
                    out[r as usize] += g * val;
                }
            }
        }
        out
    }

    /// ∂(model·wt)/∂θ_p at fixed weights for the free parameters, `free.len() × m`.
    fn jacobian(&self, theta: &[f64], ev: &Eval, free: &[usize], index: &[i64]) -> Vec<f64> {
        let m = self.rows.len();
        let nh = self.tpl.nfft / 2 + 1;
        let mut sum_hat = vec![Complex::new(0.0, 0.0); nh];
        let mut stellar = vec![0.0; m];
        for (c, &t) in ev.tpl_ids.iter().enumerate() {
            let w = ev.weights[t];
            if w == 0.0 {
                continue;
            }
            for (s, x) in sum_hat.iter_mut().zip(&self.tpl.spectra_hat[t * nh..(t + 1) * nh]) {
                *s += x * w;
            }
            for (s, v) in stellar.iter_mut().zip(&ev.conv[c * m..(c + 1) * m]) {
                *s += w * v;
            }
        }
        let vs = self.spec.velscale();
        let mut jac = vec![0.0; free.len() * m];
        let mut base_stars: Option<Vec<f64>> = None;
        let mut base_gas: [Option<Vec<f64>>; 2] = [None, None];
        for (q, &p) in free.iter().enumerate() {
            let col = &mut jac[q * m..(q + 1) * m];
            if p < self.layout.star_moments {
                let h = if p < 2 { 0.01 * vs } else { 1e-3 };
                let base = base_stars.get_or_insert_with(|| self.stellar_sum(theta, &sum_hat));
                let mut t2 = theta.to_vec();
                t2[p] += h;
                let moved = self.stellar_sum(&t2, &sum_hat);
                for r in 0..m {
                    col[r] = (moved[r] - base[r]) / h * ev.mpoly[r] * self.wt[r];
                }
            } else if p >= self.layout.mpoly {
                let d = p - self.layout.mpoly;
                for r in 0..m {
                    col[r] = self.legendre[d][r] * stellar[r] * self.wt[r];
                }
            } else {
                let kind = if Some(p) == self.layout.balmer || Some(p) == self.layout.balmer.map(|a| a + 1) {
                    GasKind::Balmer
                } else {
                    GasKind::Forbidden
                };
                let slot = if kind == GasKind::Balmer { 0 } else { 1 };
                let base = base_gas[slot].get_or_insert_with(|| self.gas_sum(theta, ev, kind, index)).clone();
                let h = 0.01 * vs;
                let mut t2 = theta.to_vec();
                t2[p] += h;
                let moved = self.gas_sum(&t2, ev, kind, index);
                for r in 0..m {
                    col[r] = (moved[r] - base[r]) / h * self.wt[r];
                }
            }
        }
        jac
    }

    /// Kaufman's (1975) variable-projection Jacobian: the fixed-weight derivatives
    /// with their component in the span of the active linear columns removed,
    /// J ← (I − Q Qᵀ) J, so that a step accounts for the weights re-adjusting (the
    /// polynomial and the template mix are strongly degenerate otherwise).
    fn project_out_linear(&self, ev: &Eval, jac: &mut [f64], nf: usize) {
        let m = self.rows.len();
        let mut a: Vec<f64> = Vec::new();
        for (c, &t) in ev.tpl_ids.iter().enumerate() {
            if ev.weights[t] > 0.0 {
                a.extend_from_slice(&ev.a[c * m..(c + 1) * m]);
            }
        }
        for j in 0..self.lines.len() {
            a.extend_from_slice(ev.gas_column(j, m));
        }
        let p = a.len() / m;
        let mut cols = SparseColumns::new(&a, m, p);
        // Keep an independent subset (a line with no pixels has an all-zero column).
        let mut keep: Vec<usize> = Vec::new();
        for j in 0..p {
            if cols.dot(j, j) <= 0.0 {
                continue;
            }
            keep.push(j);
            if cols.solve_normal(&keep, &vec![0.0; p]).is_none() {
                keep.pop();
            }
        }
        for q in 0..nf {
            let col = &mut jac[q * m..(q + 1) * m];
            let atj: Vec<f64> = (0..p).map(|j| cols.dot_vec(j, col)).collect();
            if let Some(coef) = cols.solve_normal(&keep, &atj) {
                for (k, &j) in keep.iter().enumerate() {
                    cols.axpy(j, -coef[k], col);
                }
            }
        }
    }

    /// The templates outside `ev`'s set whose NNLS gradient at `ev`'s solution is
    /// positive (they would enter the Lawson–Hanson passive set), best first.
    ///
    /// The gradient of −½χ² for template j is −a_jᵀ r with a_j = (T_j ∗ L)·P·wt and r the
    /// whitened residual; by Parseval it is −(1/N) Σ_k c_k Re[T̂_j(k) L̂(k) conj(Ĝ(k))] with
    /// G = P·wt·r on the template grid and c_k the real-FFT multiplicities (1 or 2). One
    /// forward FFT of G replaces an inverse FFT per template.
    fn kkt_violators(&self, theta: &[f64], ev: &Eval) -> Vec<usize> {
        let nfft = self.tpl.nfft;
        let nh = nfft / 2 + 1;
        let mut g = vec![0.0; nfft];
        for (r, &k) in self.rows.iter().enumerate() {
            g[self.tpl.margin + k] = ev.mpoly[r] * self.wt[r] * ev.resid[r];
        }
        let mut g_hat = vec![Complex::new(0.0, 0.0); nh];
        if self.tpl.forward.process(&mut g, &mut g_hat).is_err() {
            return Vec::new();
        }
        let l_hat = self.l_hat(theta);
        // P_k = c_k L̂_k conj(Ĝ_k), with the multiplicity c_k folded in.
        let p: Vec<Complex<f64>> = l_hat
            .iter()
            .zip(&g_hat)
            .enumerate()
            .map(|(k, ((a, b), gk))| {
                let c = if k == 0 || (nfft.is_multiple_of(2) && k == nh - 1) { 1.0 } else { 2.0 };
                Complex::new(*a, *b) * gk.conj() * c
            })
            .collect();
        // Beyond the LOSVD's cut-off frequency every term is zero.
        let kmax = l_hat.iter().rposition(|&(a, b)| a != 0.0 || b != 0.0).map_or(0, |k| k + 1);
        // Templates are normalised to mean 1 on the data, so ‖a_j‖ ≈ ‖P·wt‖.
        let norm_a = ev.mpoly.iter().zip(&self.wt).map(|(p, w)| (p * w).powi(2)).sum::<f64>().sqrt();
        let norm_b = self.b.iter().map(|v| v * v).sum::<f64>().sqrt();
        let tol = 1e-10 * norm_a * norm_b;
        let mut out: Vec<(usize, f64)> = (0..self.tpl.count)
            .filter(|t| !ev.tpl_ids.contains(t))
            .filter_map(|t| {
                let s = &self.tpl.spectra_hat[t * nh..(t + 1) * nh];
                let dot: f64 = s[..kmax].iter().zip(&p[..kmax]).map(|(a, b)| a.re * b.re - a.im * b.im).sum();
                let w = -dot / nfft as f64;
                (w > tol).then_some((t, w))
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out.into_iter().map(|(t, _)| t).collect()
    }

    /// Bounded Levenberg–Marquardt from `theta` over the parameters not in `fixed`.
    ///
    /// Trial steps re-solve the weights over a working subset of templates, which is
    /// exact for that subset and an order of magnitude cheaper than all 150. The
    /// subset is grown Lawson–Hanson style from `warm`: templates whose gradient says
    /// they would enter ([`Self::kkt_violators`]) are added, a few at a time, before
    /// and after each minimisation, until none would — at which point the subset
    /// solution is the NNLS solution over every template.
    fn minimise(&self, theta: Vec<f64>, fixed: &[usize], warm: &[usize], index: &[i64]) -> (Vec<f64>, Eval) {
        const ADD_PER_ROUND: usize = 4;
        let mut theta = theta;
        let mut subset: Vec<usize> = warm.to_vec();
        let mut ev = self.evaluate(&theta, warm, &subset, index);
        for _ in 0..40 {
            let v = self.kkt_violators(&theta, &ev);
            if v.is_empty() {
                break;
            }
            subset = ev.passive.clone();
            subset.extend(v.into_iter().take(ADD_PER_ROUND));
            ev = self.evaluate(&theta, &ev.passive, &subset, index);
        }
        for _ in 0..10 {
            let (t, e) = self.levenberg_marquardt(theta.clone(), fixed, &subset, &ev.passive, index);
            theta = t;
            ev = e;
            let v = self.kkt_violators(&theta, &ev);
            if v.is_empty() {
                break;
            }
            // Zero-weight templates satisfy the KKT conditions; they re-enter if needed.
            subset = ev.passive.clone();
            subset.extend(v.into_iter().take(ADD_PER_ROUND));
            ev = self.evaluate(&theta, &ev.passive, &subset, index);
        }
        (theta, ev)
    }

    fn levenberg_marquardt(
        &self,
        mut theta: Vec<f64>,
        fixed: &[usize],
        subset: &[usize],
        warm: &[usize],
        index: &[i64],
    ) -> (Vec<f64>, Eval) {
        let free: Vec<usize> = (0..self.layout.n).filter(|p| !fixed.contains(p)).collect();
        let nf = free.len();
        let m = self.rows.len();
        let mut ev = self.evaluate(&theta, warm, subset, index);
        let mut mu = 1e-3;
        for _it in 0..self.cfg.max_iter {
            let mut jac = self.jacobian(&theta, &ev, &free, index);
            self.project_out_linear(&ev, &mut jac, nf);
            let mut h = vec![0.0; nf * nf];
            let mut g = vec![0.0; nf];
            for i in 0..nf {
                let ci = &jac[i * m..(i + 1) * m];
                g[i] = ci.iter().zip(&ev.resid).map(|(a, r)| a * r).sum();
                for j in 0..=i {
                    let cj = &jac[j * m..(j + 1) * m];
                    let s: f64 = ci.iter().zip(cj).map(|(a, b)| a * b).sum();
                    h[i * nf + j] = s;
                    h[j * nf + i] = s;
                }
            }
            let mut accepted = false;
            for _ in 0..12 {
                let mut hd = h.clone();
                for i in 0..nf {
                    hd[i * nf + i] = h[i * nf + i] * (1.0 + mu) + 1e-12;
                }
                let Some(step) = spd_solve(&hd, nf, &g) else {
                    mu *= 10.0;
                    continue;
                };
                let mut trial = theta.clone();
                for (q, &p) in free.iter().enumerate() {
                    trial[p] = (theta[p] - step[q]).clamp(self.lower[p], self.upper[p]);
                }
                let tev = self.evaluate(&trial, &ev.passive, subset, index);
                if tev.chi2 < ev.chi2 {
                    let gain = ev.chi2 - tev.chi2;
                    let moved = free.iter().any(|&p| (trial[p] - theta[p]).abs() > 1e-6 * (1.0 + theta[p].abs()));
                    theta = trial;
                    ev = tev;
                    mu = (mu / 3.0).max(1e-9);
                    accepted = true;
                    // Converged when a step gains less than 1e-5 of χ² or 0.05 (Δχ² = 1 is 1σ).
                    if gain < (1e-5 * ev.chi2).max(0.05) || !moved {
                        return (theta, ev);
                    }
                    break;
                }
                mu *= 4.0;
            }
            if !accepted {
                break;
            }
        }
        (theta, ev)
    }
}

/// Fits one prepared spectrum with its templates.
pub fn fit(spec: &Prepared, tpl: &TemplateSet, cfg: &FitConfig) -> Result<FitResult, FitProblem> {
    let mut rows: Vec<usize> = (0..spec.len()).filter(|&k| spec.good[k] && spec.var[k].is_finite() && spec.var[k] > 0.0).collect();
    let mut theta: Option<Vec<f64>> = None;
    let mut warm: Vec<usize> = Vec::new();
    let mut n_clipped = 0;
    let mut clipped = vec![false; spec.len()];
    for _round in 0..6 {
        let prob = Problem::new(spec, tpl, cfg, rows.clone());
        if prob.rows.len() < prob.layout.n + 20 {
            return Err(FitProblem::TooFewPixels(prob.rows.len()));
        }
        let index = prob.row_index();
        let start = theta.clone().unwrap_or_else(|| prob.start());
        let (t, ev) = prob.minimise(start, &[], &warm, &index);
        warm = ev.passive.clone();
        let dof = (prob.rows.len() as f64 - prob.layout.n as f64 - ev.weights.iter().filter(|w| **w != 0.0).count() as f64).max(1.0);
        let scale = (ev.chi2 / dof).sqrt().max(1e-12);
        let mut new_clips = 0;
        if cfg.clip_sigma > 0.0 {
            for (r, &k) in prob.rows.iter().enumerate() {
                if ev.resid[r].abs() > cfg.clip_sigma * scale {
                    clipped[k] = true;
                    new_clips += 1;
                }
            }
        }
        theta = Some(t.clone());
        if new_clips == 0 {
            return finish(&prob, t, ev, n_clipped, &index);
        }
        n_clipped += new_clips;
        rows.retain(|&k| !clipped[k]);
    }
    let prob = Problem::new(spec, tpl, cfg, rows);
    let index = prob.row_index();
    let (t, ev) = prob.minimise(theta.unwrap_or_else(|| prob.start()), &[], &warm, &index);
    finish(&prob, t, ev, n_clipped, &index)
}

fn finish(prob: &Problem, theta: Vec<f64>, ev: Eval, n_clipped: usize, index: &[i64]) -> Result<FitResult, FitProblem> {
    let m = prob.rows.len();
    let nt = prob.tpl.count;
    let ng = prob.lines.len();
    let free: Vec<usize> = (0..prob.layout.n).collect();
    // Covariance of nonlinear parameters and active linear weights together.
    let jac = prob.jacobian(&theta, &ev, &free, index);
    let mut cols: Vec<Vec<f64>> = (0..prob.layout.n).map(|q| jac[q * m..(q + 1) * m].to_vec()).collect();
    let active: Vec<usize> = (0..nt).filter(|&t| ev.weights[t] > 0.0).collect();
    for &t in &active {
        let c = ev.tpl_ids.iter().position(|&x| x == t).ok_or(FitProblem::Singular)?;
        cols.push(ev.a[c * m..(c + 1) * m].to_vec());
    }
    let gas_at = cols.len();
    for j in 0..ng {
        cols.push(ev.gas_column(j, m).to_vec());
    }
    let k = cols.len();
    let mut f = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let s: f64 = cols[i].iter().zip(&cols[j]).map(|(a, b)| a * b).sum();
            f[i * k + j] = s;
            f[j * k + i] = s;
        }
    }
    let cov = spd_inverse(&f, k).ok_or(FitProblem::Singular)?;
    let err = |i: usize| cov[i * k + i].max(0.0).sqrt();
    let dof = (m as f64 - prob.layout.n as f64 - active.len() as f64 - ng as f64).max(1.0);

    // Δχ² against an unbroadened fit (σ* at its lower bound, everything else refitted).
    let (sl, su) = prob.cfg.sigma_bounds;
    let mut t0 = theta.clone();
    t0[1] = sl;
    let (_, ev0) = prob.minimise(t0, &[1], &ev.passive, index);
    let dchi2 = ev0.chi2 - ev.chi2;
    let at_bound = theta[1] <= sl * 1.01 || theta[1] >= su * 0.99;
    let sigma_err = err(1);
    let stars = Kinematics { v: theta[0], v_err: err(0), sigma: theta[1], sigma_err };
    let corr = prob.tpl.sigma_correction_sq;
    let sigma_star = (theta[1].powi(2) + corr).sqrt();
    let sigma_star_err = theta[1] / sigma_star * sigma_err;
    let kin = |at: Option<usize>| at.map(|a| Kinematics { v: theta[a], v_err: err(a), sigma: theta[a + 1], sigma_err: err(a + 1) });
    let to_obs = prob.spec.scale * (1.0 + prob.spec.z);
    let lines = prob
        .lines
        .iter()
        .enumerate()
        .map(|(j, &li)| LineFlux { line: li, flux: ev.weights[nt + j] * to_obs, err: err(gas_at + j) * to_obs })
        .collect();
    // Gas model on the linear input grid (exact pixel integrals in ln λ).
    let edges = &prob.spec.lin_edges;
    let mut gas_model = vec![0.0; edges.len() - 1];
    for (j, &li) in prob.lines.iter().enumerate() {
        let g = ev.weights[nt + j] * prob.spec.scale;
        let line = &GAS_LINES[li];
        let (v, s) = prob.gas_kin(&theta, li);
        let mut members = vec![(line.wave, 1.0)];
        if let Some(p) = line.partner {
            members.push(p);
        }
        for (w, ratio) in members {
            let sl = (s * s + sigma_inst_at(prob.spec, w).powi(2)).sqrt() / C_KM_S;
            let u0 = w.ln() + ln_shift(v);
            let lo = edges.partition_point(|&e| e.ln() < u0 - 7.0 * sl).saturating_sub(1);
            let hi = edges.partition_point(|&e| e.ln() < u0 + 7.0 * sl).min(edges.len() - 1);
            for i in lo..hi {
                let (a, b) = (edges[i].ln(), edges[i + 1].ln());
                let frac = gaussian_fraction(a, b, u0, sl);
                gas_model[i] += g * ratio * frac / (edges[i + 1] - edges[i]);
            }
        }
    }
    let native = native_fit(prob, &theta, &ev, &gas_model, prob.layout.n + active.len() + ng);
    Ok(FitResult {
        stars,
        sigma_star,
        sigma_star_err,
        h3_h4: if prob.layout.star_moments == 4 { (theta[2], theta[3]) } else { (0.0, 0.0) },
        sigma_star_ok: dchi2 >= prob.cfg.min_dchi2_sigma && !at_bound && sigma_err.is_finite() && sigma_err > 0.0,
        dchi2_sigma: dchi2,
        balmer: kin(prob.layout.balmer),
        forbidden: kin(prob.layout.forbidden),
        lines,
        chi2: ev.chi2,
        dof,
        n_clipped,
        gas_model_linear: gas_model,
        model_linear: native.model,
        used_linear: native.used,
        chi2_native: native.chi2,
        dof_native: native.dof,
    })
}

/// The final fit on the input's own (linear) pixels.
struct NativeFit {
    model: Vec<f64>,
    used: Vec<bool>,
    chi2: f64,
    dof: usize,
}

/// Evaluates the final model on every log pixel — the stellar sum Σ w_t (T_t ∗ LOSVD)
/// times the multiplicative polynomial, as in the fit — rebins it flux-conservingly back
/// onto the input's linear pixels, adds the exactly integrated `gas_linear`, and
/// computes χ² there over the pixels the fit used (`n_params` fitted parameters).
fn native_fit(prob: &Problem, theta: &[f64], ev: &Eval, gas_linear: &[f64], n_params: usize) -> NativeFit {
    let spec = prob.spec;
    let n = spec.len();
    // The same problem over every log pixel: its lines, layout and polynomial x are
    // functions of the spectrum alone, so they are the fit's.
    let all = Problem::new(spec, prob.tpl, prob.cfg, (0..n).collect());
    let nh = prob.tpl.nfft / 2 + 1;
    let mut sum_hat = vec![Complex::new(0.0, 0.0); nh];
    for t in 0..prob.tpl.count {
        let w = ev.weights[t];
        if w != 0.0 {
            for (s, x) in sum_hat.iter_mut().zip(&prob.tpl.spectra_hat[t * nh..(t + 1) * nh]) {
                *s += x * w;
            }
        }
    }
    let stellar: Vec<f64> = all.stellar_sum(theta, &sum_hat).iter().zip(all.mpoly(theta)).map(|(s, p)| s * p * spec.scale).collect();
    let lo = spec.ln_start - 0.5 * spec.dln;
    let log_edges: Vec<f64> = (0..=n).map(|k| (lo + k as f64 * spec.dln).exp()).collect();
    let (stellar_linear, _, _) = crate::prepare::rebin_with_variance(&log_edges, &stellar, &vec![0.0; n], &vec![true; n], &spec.lin_edges);
    let model: Vec<f64> = stellar_linear.iter().zip(gas_linear).map(|(s, g)| s + g).collect();
    let mut kept = vec![false; n];
    for &k in &prob.rows {
        kept[k] = true;
    }
    let used: Vec<bool> = (0..spec.lin_flux.len())
        .map(|i| {
            let a = (spec.lin_edges[i].ln() - lo) / spec.dln;
            let b = (spec.lin_edges[i + 1].ln() - lo) / spec.dln;
            let k0 = (a + 1e-9).floor().max(0.0) as usize;
            let k1 = ((b - 1e-9).ceil() as usize).min(n);
            spec.lin_good[i] && k0 < k1 && kept[k0..k1].iter().all(|&x| x)
        })
        .collect();
    let chi2 = (0..used.len()).filter(|&i| used[i]).map(|i| (spec.lin_flux[i] - model[i]).powi(2) / spec.lin_var[i]).sum();
    let dof = used.iter().filter(|&&u| u).count().saturating_sub(n_params).max(1);
    NativeFit { model, used, chi2, dof }
}
