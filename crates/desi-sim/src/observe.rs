//! From a rest-frame galaxy model to what DESI records: velocity broadening,
//! nebular lines, redshift, fibre aperture, flux-conserving resampling onto the three
//! cameras' 0.8 Å pixels, the resolution matrix, and sky + read noise into ivar.

use ard_core::constants::sigma_of_fwhm;
use ard_core::cosmology::{C_KM_S, PLANCK18};
use ard_core::special::erf;
use ard_core::wavelength::air_to_vacuum;
use ssp::ops::{apply_resolution, edges_from_centers, gaussian_convolve_variable, gaussian_resolution, rebin, LogGrid};
use ssp::SspLibrary;

use crate::galaxy::{line_luminosities, GalaxyParams, StellarModel, LINES};
use crate::lsf::FibreLsf;
use crate::rng::Rng;

/// Solar luminosity, erg/s (IAU 2015 B3): the workspace constant.
pub use ard_core::constants::L_SUN_ERG_S as L_SUN;
/// Megaparsec, cm: the workspace constant.
pub use ard_core::constants::MPC_CM;
/// DESI fibre diameter, arcsec.
pub const FIBRE_DIAMETER: f64 = 1.5;
/// Seeing FWHM assumed for fibre-aperture losses, arcsec.
pub const SEEING_FWHM: f64 = 1.1;
/// Number of resolution diagonals.
pub const NDIAG: usize = 11;

/// One DESI spectrograph arm.
#[derive(Debug, Clone)]
pub struct CameraSpec {
    /// `b`, `r`, `z`.
    pub name: &'static str,
    /// First pixel centre, Å.
    pub wave_min: f64,
    /// Number of 0.8 Å pixels.
    pub npix: usize,
    /// LSF σ in pixels at the blue and red ends (linear in between).
    pub sigma_pix: (f64, f64),
}

/// The three DESI cameras (grids as in every DESI coadd: b 3600–5800, r 5760–7620,
/// z 7520–9824 Å at 0.8 Å). LSF widths follow the DESI instrument paper (DESI
/// Collaboration 2022, AJ 164, 207, Fig. 28: FWHM ≈ 1.8–2.2 Å).
pub const CAMERAS: [CameraSpec; 3] = [
    CameraSpec { name: "b", wave_min: 3600.0, npix: 2751, sigma_pix: (1.05, 0.88) },
    CameraSpec { name: "r", wave_min: 5760.0, npix: 2326, sigma_pix: (0.98, 0.85) },
    CameraSpec { name: "z", wave_min: 7520.0, npix: 2881, sigma_pix: (0.95, 0.88) },
];

impl CameraSpec {
    /// Pixel centres, Å.
    pub fn wavelength(&self) -> Vec<f64> {
        (0..self.npix).map(|i| self.wave_min + 0.8 * i as f64).collect()
    }
    /// Resolution data (NDIAG × npix) for a fibre whose LSF is `scale` × nominal.
    pub fn resolution(&self, scale: f64) -> Vec<f32> {
        let n = self.npix as f64;
        let s: Vec<f64> =
            (0..self.npix).map(|i| scale * (self.sigma_pix.0 + (self.sigma_pix.1 - self.sigma_pix.0) * i as f64 / (n - 1.0))).collect();
        gaussian_resolution(&s, NDIAG)
    }
}

/// Dark night-sky spectrum in the fibre, 1e-17 erg/s/cm²/Å: a smooth continuum
/// (≈ 21.1 AB mag/arcsec² at 6000 Å over the 1.77 arcsec² fibre) plus [`sky_lines`].
/// Exposure times are dark-sky-equivalent effective times (DESI's EFFTIME), so the
/// bright program uses the same sky with a shorter time.
pub fn sky(wave: &[f64]) -> Vec<f64> {
    sky_lines(wave).into_iter().zip(wave).map(|(l, &w)| 1.2 + 0.7 * (w / 6000.0).powi(2) + l).collect()
}

/// The sky's emission lines alone: the strong auroral and Na lines ([OI] 5577, Na D,
/// [OI] 6300, 6364) and an OH forest redward of 6200 Å at fixed, seeded positions.
pub fn sky_lines(wave: &[f64]) -> Vec<f64> {
    let mut rng = Rng::new(0x5EED_5C1E, 7);
    let mut lines: Vec<(f64, f64)> = vec![(5578.9, 60.0), (5891.6, 12.0), (6302.0, 20.0), (6365.5, 7.0)];
    for _ in 0..160 {
        let w = rng.range(6200.0, 9900.0);
        let amp = rng.range(3.0, 40.0) * (1.0 + (w - 6200.0) / 2000.0);
        lines.push((w, amp));
    }
    wave.iter()
        .map(|&w| lines.iter().filter(|(c, _)| (c - w).abs() < 5.0).map(|(c, a)| a * (-0.5 * ((w - c) / 0.8).powi(2)).exp()).sum())
        .collect()
}

/// Detected electrons per pixel per 1000 s for a source of 1e-17 erg/s/cm²/Å:
/// 8.6 m² aperture × total throughput (≈ 0.32 peak, DESI 2022 Fig. 27) × 0.8 Å.
pub fn electrons_per_flux(w: f64) -> f64 {
    let throughput = 0.08 + 0.24 * (-((w - 6300.0) / 2600.0).powi(2)).exp();
    let photon_erg = 6.626_070_15e-27 * 2.997_924_58e18 / w;
    1e-17 * 8.6e4 / photon_erg * throughput * 0.8 * 1000.0
}

/// Read noise per pixel (electrons, 4 CCD rows of 3 e⁻ each in quadrature).
pub const READ_NOISE_E: f64 = 6.0;

/// Pixel variance (flux units²) for noiseless model `f` and sky `s` at `w` after
/// `exptime` s in `nexp` exposures.
pub fn variance(f: f64, s: f64, w: f64, exptime: f64, nexp: usize) -> f64 {
    let k = electrons_per_flux(w) * exptime / 1000.0;
    ((f.max(0.0) + s) * k + nexp as f64 * READ_NOISE_E * READ_NOISE_E) / (k * k)
}

/// Draws the observed flux of one camera from the noiseless `model` and returns it
/// with its ivar (1/variance of the noise model at the noiseless flux, as the DESI
/// pipeline's ivar comes from its model of sky + source + read noise).
pub fn add_noise(model: &[f64], wave: &[f64], exptime: f64, nexp: usize, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    let s = sky(wave);
    let mut flux = Vec::with_capacity(model.len());
    let mut ivar = Vec::with_capacity(model.len());
    for j in 0..model.len() {
        let var = variance(model[j], s[j], wave[j], exptime, nexp);
        flux.push((model[j] + var.sqrt() * rng.normal()) as f32);
        ivar.push((1.0 / var) as f32);
    }
    (flux, ivar)
}

/// Fraction of a galaxy's light inside the fibre: the profile as a circular Gaussian
/// of half-light radius `r_half_arcsec` convolved with the seeing; fraction within
/// radius R of a 2-D Gaussian is 1 − exp(−R²/2σ²).
pub fn fibre_fraction(r_half_arcsec: f64) -> f64 {
    let sigma_seeing = sigma_of_fwhm(SEEING_FWHM);
    // A Gaussian's half-light radius is its half width at half maximum.
    let sigma_gal = sigma_of_fwhm(2.0 * r_half_arcsec);
    let s2 = sigma_seeing.powi(2) + sigma_gal.powi(2);
    let r = 0.5 * FIBRE_DIAMETER;
    1.0 - (-r * r / (2.0 * s2)).exp()
}

/// Angular half-light radius (arcsec) of a galaxy of half-light radius `r_half_kpc` at
/// redshift `z` (angular-diameter distance, Planck 2018).
pub fn half_light_arcsec(r_half_kpc: f64, z: f64) -> f64 {
    let da_kpc = PLANCK18.comoving_distance(z) / (1.0 + z) * 1000.0;
    r_half_kpc / da_kpc * 206_264.806
}

/// Switches for tests that isolate one step.
#[derive(Debug, Clone, Copy)]
pub struct ObserveOptions {
    /// Add nebular lines.
    pub lines: bool,
    /// Apply the camera resolution matrices.
    pub resolution: bool,
    /// Apply the fibre aperture.
    pub aperture: bool,
}

impl Default for ObserveOptions {
    fn default() -> Self {
        ObserveOptions { lines: true, resolution: true, aperture: true }
    }
}

/// A galaxy as DESI sees it.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Noiseless spectra per camera, 1e-17 erg/s/cm²/Å.
    pub model: Vec<Vec<f64>>,
    /// The emission lines' part of `model` (so the stars' colour gradient can spare them).
    pub model_lines: Vec<Vec<f64>>,
    /// Resolution data per camera.
    pub resolution: Vec<Vec<f32>>,
    /// Fibre fraction applied to the stars.
    pub fibre_fraction: f64,
    /// Fibre fraction applied to the lines (the stars' unless the gas has its own size).
    pub fibre_fraction_gas: f64,
    /// Per camera, whether each pixel's rest wavelength lies inside the library (pixels
    /// outside carry no stellar light and must be masked).
    pub covered: Vec<Vec<bool>>,
    /// Observed (attenuated) line fluxes in the whole galaxy, 1e-17 erg/s/cm².
    pub line_flux: Vec<f64>,
    /// Total (not fibre) observed-frame F_λ on the template grid, for photometry:
    /// (wavelength Å vacuum observed, flux 1e-17 erg/s/cm²/Å).
    pub sed: (Vec<f64>, Vec<f64>),
    /// Mass formed, M☉.
    pub mass_formed: f64,
    /// Dn4000 of the noiseless rest-frame stellar model.
    pub dn4000: f64,
    /// HδA (Å) of the noiseless rest-frame stellar model.
    pub hdelta_a: f64,
}

/// Velocity grid step of the rest-frame working grid, km/s.
pub const VELSCALE: f64 = 25.0;

/// Observes one galaxy at redshift `z` through a fibre with line-spread function `lsf`.
pub fn observe(lib: &SspLibrary, p: &GalaxyParams, model: &StellarModel, z: f64, lsf: &FibreLsf, opts: ObserveOptions) -> Observed {
    let mass_formed = 10f64.powf(p.log_mass) / model.surviving;
    let dl_cm = PLANCK18.luminosity_distance(z) * MPC_CM;
    // erg/s/Å → 1e-17 erg/s/cm²/Å, observed frame (the 1/(1+z) of F_λ).
    let to_obs = mass_formed * L_SUN / (4.0 * std::f64::consts::PI * dl_cm * dl_cm * (1.0 + z)) / 1e-17;
    let r_half_arcsec = half_light_arcsec(p.r_half_kpc, z);
    let ffib = if opts.aperture { fibre_fraction(r_half_arcsec) } else { 1.0 };
    let ffib_gas = if opts.aperture { fibre_fraction(r_half_arcsec * p.gas_size_ratio) } else { 1.0 };

    // Rest-frame working grid in ln λ (vacuum) covering the cameras.
    let grid = LogGrid::covering(3560.0 / (1.0 + z), 9870.0 / (1.0 + z), VELSCALE);
    let tpl_vac: Vec<f64> = lib.wave.iter().map(|&w| air_to_vacuum(w)).collect();
    let rest = rebin(&edges_from_centers(&tpl_vac), &model.flux, &grid.edges());
    // The templates already carry the library's own line width (E-MILES: FWHM 2.51 Å in
    // the optical; BC03: 3 Å), so a galaxy of dispersion σ* gets only the quadrature
    // difference: its lines then have the width an intrinsic LOSVD of σ* gives (for σ*
    // above the template width, ≈ 50–85 km/s over 3500–6000 Å).
    let kernel: Vec<f64> = grid
        .centers()
        .iter()
        .map(|&w| {
            let s_tpl = C_KM_S * sigma_of_fwhm(lib.fwhm_at(ard_core::wavelength::vacuum_to_air(w))) / w;
            (p.sigma_star.powi(2) - s_tpl * s_tpl).max(0.0).sqrt() / VELSCALE
        })
        .collect();
    let rest = gaussian_convolve_variable(&rest, &kernel);
    // Truth indices on the noiseless, σ*-broadened stellar rest-frame model (air λ).
    let rest_air: Vec<f64> = grid.centers().iter().map(|&w| ard_core::wavelength::vacuum_to_air(w)).collect();
    let dn4000 = crate::galaxy::dn4000(&rest_air, &rest);
    let hdelta_a = crate::galaxy::hdelta_a(&rest_air, &rest);
    // Lines, integrated over each pixel (erf), in L☉/Å per M☉ formed.
    let sfr_10 = mass_formed * model.sf.frac_10myr / 1e7;
    let lum = line_luminosities(p, sfr_10);
    // Lines go in with their own fibre fraction, relative to the stars'.
    let gas_scale = if ffib > 0.0 { ffib_gas / ffib } else { 1.0 };
    let mut lines_rest = vec![0.0; rest.len()];
    if opts.lines {
        let edges = grid.edges();
        for ((_, rest_w0), l) in LINES.iter().zip(&lum) {
            let w0 = rest_w0 * (1.0 + p.v_gas / C_KM_S);
            let s = w0 * p.sigma_gas / C_KM_S;
            let scale = gas_scale * l / (L_SUN * mass_formed);
            let k0 = edges.partition_point(|&e| e < w0 - 8.0 * s);
            let k1 = edges.partition_point(|&e| e < w0 + 8.0 * s).min(edges.len() - 1);
            for k in k0.max(1)..=k1 {
                let (a, b) = (edges[k - 1], edges[k]);
                let frac = 0.5 * (erf((b - w0) / (s * std::f64::consts::SQRT_2)) - erf((a - w0) / (s * std::f64::consts::SQRT_2)));
                lines_rest[k - 1] += scale * frac / (b - a);
            }
        }
    }
    let obs_edges: Vec<f64> = grid.edges().iter().map(|e| e * (1.0 + z)).collect();
    let obs_density: Vec<f64> = rest.iter().zip(&lines_rest).map(|(f, l)| (f + l) * to_obs * ffib).collect();
    let obs_lines: Vec<f64> = lines_rest.iter().map(|l| l * to_obs * ffib).collect();
    // Rest-frame range the library covers, less 8 pixels' margin for the broadening.
    let (lib_lo, lib_hi) = (tpl_vac[0] * (1.0 + 8.0 * VELSCALE / C_KM_S), tpl_vac[tpl_vac.len() - 1] * (1.0 - 8.0 * VELSCALE / C_KM_S));
    let mut models = Vec::new();
    let mut lines_models = Vec::new();
    let mut resolutions = Vec::new();
    let mut covered = Vec::new();
    for (ci, cam) in CAMERAS.iter().enumerate() {
        let centers = cam.wavelength();
        covered.push(centers.iter().map(|w| (lib_lo..=lib_hi).contains(&(w / (1.0 + z)))).collect());
        let r = lsf.resolution(ci);
        let rr = opts.resolution.then_some(r.as_slice());
        models.push(to_camera(&obs_edges, &obs_density, &centers, rr));
        lines_models.push(to_camera(&obs_edges, &obs_lines, &centers, rr));
        resolutions.push(r);
    }
    let line_flux = lum.iter().map(|l| l / (4.0 * std::f64::consts::PI * dl_cm * dl_cm) / 1e-17).collect();
    // Whole-galaxy SED for photometry: optical + IR parts of the template grid.
    let mut sed_w: Vec<f64> = tpl_vac.iter().map(|w| w * (1.0 + z)).collect();
    let mut sed_f: Vec<f64> = model.flux.iter().map(|f| f * to_obs).collect();
    sed_w.extend(lib.wave_ir.iter().map(|w| air_to_vacuum(*w) * (1.0 + z)));
    sed_f.extend(model.flux_ir.iter().map(|f| f * to_obs));
    Observed {
        model: models,
        model_lines: lines_models,
        resolution: resolutions,
        fibre_fraction: ffib,
        fibre_fraction_gas: ffib_gas,
        covered,
        line_flux,
        sed: (sed_w, sed_f),
        mass_formed,
        dn4000,
        hdelta_a,
    }
}

/// A density on `obs_edges` (observed frame) rebinned onto a camera's pixels `centers`,
/// through its resolution data `r` when given.
fn to_camera(obs_edges: &[f64], density: &[f64], centers: &[f64], r: Option<&[f32]>) -> Vec<f64> {
    let f = rebin(obs_edges, density, &edges_from_centers(centers));
    match r {
        Some(r) => apply_resolution(r, NDIAG, &f),
        None => f,
    }
}

/// Observes a point source (a star or a QSO, `crate::nongalaxy`) whose observed-frame
/// spectrum is `(w_obs, f)` (vacuum Å ascending, any units) with AB magnitude `mag_r` in
/// the r band: normalised to that magnitude, the fibre takes a point source's share of its
/// light, and camera pixels beyond the spectrum are not covered. Galaxy-only fields
/// (line fluxes, mass, indices) are NaN.
pub fn observe_point_source(w_obs: &[f64], f: &[f64], mag_r: f64, lsf: &FibreLsf) -> Observed {
    let phot = photometry(w_obs, f);
    let nmgy = 10f64.powf(-0.4 * (mag_r - 22.5));
    let scale = if phot[1] > 0.0 { nmgy / phot[1] } else { 0.0 };
    let sed_f: Vec<f64> = f.iter().map(|x| x * scale).collect();
    let ffib = fibre_fraction(0.0);
    let edges = edges_from_centers(w_obs);
    let fibre: Vec<f64> = sed_f.iter().map(|x| x * ffib).collect();
    let (lo, hi) = (edges[1], edges[edges.len() - 2]);
    let mut out = Observed {
        model: Vec::new(),
        model_lines: Vec::new(),
        resolution: Vec::new(),
        fibre_fraction: ffib,
        fibre_fraction_gas: ffib,
        covered: Vec::new(),
        line_flux: vec![f64::NAN; LINES.len()],
        sed: (w_obs.to_vec(), sed_f),
        mass_formed: f64::NAN,
        dn4000: f64::NAN,
        hdelta_a: f64::NAN,
    };
    for (ci, cam) in CAMERAS.iter().enumerate() {
        let centers = cam.wavelength();
        let r = lsf.resolution(ci);
        out.model.push(to_camera(&edges, &fibre, &centers, Some(&r)));
        out.model_lines.push(vec![0.0; centers.len()]);
        out.covered.push(centers.iter().map(|w| (lo..=hi).contains(w)).collect());
        out.resolution.push(r);
    }
    out
}

/// Broad-band fluxes in nanomaggies (AB; 1 nmgy = 3.631e-6 Jy) through Gaussian
/// approximations of the DECam g, r, z (Dey et al. 2019) and WISE W1, W2 (Wright et
/// al. 2010) passbands: centre and FWHM in Å. Photon-counting mean of F_ν.
pub const BANDS: [(&str, f64, f64); 5] =
    [("G", 4800.0, 1300.0), ("R", 6400.0, 1500.0), ("Z", 9200.0, 1400.0), ("W1", 33526.0, 6626.0), ("W2", 46028.0, 10423.0)];

/// Whether an observed-frame SED grid `w` (ascending) covers each of [`BANDS`] over its
/// centre ± 2σ (95 % of the passband's weight; the flux from a band truncated there is
/// biased only by the colour across the missing 5 %).
pub fn bands_covered(w: &[f64]) -> [bool; 5] {
    let mut out = [false; 5];
    let (lo, hi) = (w.iter().copied().fold(f64::MAX, f64::min), w.iter().copied().fold(f64::MIN, f64::max));
    for (k, (_, c, fwhm)) in BANDS.iter().enumerate() {
        let s = sigma_of_fwhm(*fwhm);
        out[k] = lo <= c - 2.0 * s && hi >= c + 2.0 * s;
    }
    out
}

/// Synthetic photometry of an observed-frame F_λ (1e-17 erg/s/cm²/Å) in nanomaggies.
pub fn photometry(w: &[f64], f: &[f64]) -> [f64; 5] {
    let mut out = [0.0; 5];
    for (k, (_, c, fwhm)) in BANDS.iter().enumerate() {
        let s = sigma_of_fwhm(*fwhm);
        let (mut num, mut den) = (0.0, 0.0);
        for i in 1..w.len() {
            let dl = w[i] - w[i - 1];
            let t = (-0.5 * ((w[i] - c) / s).powi(2)).exp();
            if t < 1e-6 {
                continue;
            }
            num += f[i] * 1e-17 * t * w[i] * dl;
            den += t * 2.997_924_58e18 / w[i] * dl;
        }
        let fnu_jy = if den > 0.0 { num / den / 1e-23 } else { 0.0 };
        out[k] = fnu_jy / 3.631e-6;
    }
    out
}
