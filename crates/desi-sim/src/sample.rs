//! The whole simulated sample: positions in the mock web, populations, spectra, and
//! the DESI tree (coadd + redrock per pixel and program) with its truth table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ard_core::cosmology::PLANCK18;
use ard_core::dust::MilkyWay;
use ard_fits::Key;
use arrow_array::builder::{FixedSizeListBuilder, Float64Builder};
use arrow_array::{ArrayRef, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use desi_io::write::{write_coadd, write_redrock, CoaddContents};
use desi_io::Camera;
use rayon::prelude::*;
use ssp::SspLibrary;

use crate::footprint::{from_xyz, to_xyz, Footprint};
use crate::galaxy::{draw_independent_params, draw_params, stellar_model, GalaxyParams, Population, LINES};
use crate::lsf::FibreLsf;
use crate::nongalaxy::{ObjectKind, QsoParams, StarParams, QSO_FRACTION, STAR_FRACTION};
use crate::observe::{
    add_noise, bands_covered, half_light_arcsec, observe, observe_point_source, photometry, sky_lines, ObserveOptions, Observed, BANDS,
    CAMERAS, NDIAG,
};
use crate::rng::Rng;
use crate::web::{Web, FILAMENT, SHEET, VOID};
use crate::SimError;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Random seed: the same seed gives the same files.
    pub seed: u64,
    /// nside-64 nested pixels of the footprint.
    pub pixels: Vec<u64>,
    /// Number of galaxies.
    pub n_objects: usize,
    /// Redshift range of the web volume.
    pub z_range: (f64, f64),
    /// Mean separation of web nodes, Mpc.
    pub node_spacing: f64,
    /// Total exposure time of dark-program coadds, s.
    pub exptime_dark: f64,
    /// Total exposure time of bright-program coadds, s.
    pub exptime_bright: f64,
    /// Fraction of Green-Pea-like galaxies (at least 1 when > 0).
    pub green_pea_fraction: f64,
    /// Fraction of targets also observed in the other program.
    pub repeat_fraction: f64,
    /// The population library the galaxies are built from. Anything but E-MILES makes
    /// the independent mock: its galaxies ([`draw_independent_params`]), instrument
    /// ([`Systematics`], DESI's measured LSF from [`crate::lsf`]) and sample (stars and
    /// QSOs from [`crate::nongalaxy`], LRGs and ELGs at [`survey_redshifts`]) share none of
    /// the fits' assumptions.
    pub library: ssp::Library,
    /// Whether the independent mock adds its [`Systematics`] (on by default; off to
    /// separate their effect from the galaxies').
    pub instrument_systematics: bool,
}

impl SimConfig {
    /// Whether this is the independent mock (a library other than the fits' E-MILES).
    pub fn independent(&self) -> bool {
        self.library != ssp::Library::Emiles
    }
}

/// desispec `specmask` NODATA (bit 8): set, with ivar = 0, on pixels whose rest
/// wavelength the mock's library does not reach.
pub const MASK_NODATA: i32 = 1 << 8;

/// Instrument effects of the independent mock, drawn per spectrum: a flux-calibration
/// tilt (quadratic in λ, a few per cent over the range), ivar mis-scaled by up to ±10 %,
/// sky-subtraction residuals of ±1 % (1σ) of the sky lines per camera, and a colour gradient
/// (the fibre sees a bluer or redder part of the galaxy than the total photometry).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Systematics {
    /// Linear and quadratic calibration terms in x = (λ − 6500 Å) / 3000 Å.
    pub tilt: (f64, f64),
    /// Factor on the true ivar.
    pub ivar_scale: f64,
    /// Sky-line residual fraction per camera.
    pub sky_residual: [f64; 3],
    /// Fibre-to-total flux ratio gradient per 3000 Å (observed frame, about 6400 Å).
    pub colour_gradient: f64,
}

impl Systematics {
    /// None of them (the default mock).
    pub const NONE: Systematics = Systematics { tilt: (0.0, 0.0), ivar_scale: 1.0, sky_residual: [0.0; 3], colour_gradient: 0.0 };

    fn draw(rng: &mut Rng) -> Systematics {
        Systematics {
            tilt: (0.02 * rng.normal(), 0.01 * rng.normal()),
            ivar_scale: rng.range(0.9, 1.1),
            sky_residual: [0.01 * rng.normal(), 0.01 * rng.normal(), 0.01 * rng.normal()],
            colour_gradient: rng.range(-0.08, 0.08),
        }
    }

    /// The fibre-to-total flux ratio at observed wavelength `w` over the mean one.
    pub fn gradient(&self, w: f64) -> f64 {
        1.0 + self.colour_gradient * (w - 6400.0) / 3000.0
    }

    /// Flux-calibration factor at observed wavelength `w`.
    pub fn calibration(&self, w: f64) -> f64 {
        let x = (w - 6500.0) / 3000.0;
        1.0 + self.tilt.0 * x + self.tilt.1 * x * x
    }
}

/// Survey of the simulated files.
pub const SURVEY: &str = "main";

/// The default footprint: the 16 nside-64 pixels of the order-4 pixel containing
/// (RA, Dec) = (150°, 2.2°) (the COSMOS field), ≈ 13.4 deg².
pub fn default_pixels() -> Vec<u64> {
    let parent = cdshealpix::nested::hash(4, 150f64.to_radians(), 2.2f64.to_radians());
    (parent * 16..parent * 16 + 16).collect()
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            pixels: default_pixels(),
            n_objects: 2400,
            z_range: (0.05, 0.25),
            node_spacing: 22.0,
            exptime_dark: 1000.0,
            exptime_bright: 300.0,
            green_pea_fraction: 0.016,
            repeat_fraction: 0.03,
            library: ssp::Library::Emiles,
            instrument_systematics: true,
        }
    }
}

/// One simulated galaxy before observation.
#[derive(Debug, Clone)]
pub struct Target {
    /// TARGETID.
    pub targetid: i64,
    /// Position.
    pub ra: f64,
    /// Position.
    pub dec: f64,
    /// Cosmological redshift.
    pub z: f64,
    /// Comoving position, Mpc (NaN for stars and QSOs).
    pub xyz: [f64; 3],
    /// Web component it was drawn from; −1 outside the web volume (stars, QSOs, and the
    /// independent mock's LRGs and ELGs at their survey redshifts, [`survey_redshifts`]).
    pub web_class: i8,
    /// Distance to the nearest true filament axis, Mpc (NaN outside the web volume).
    pub dist_filament: f64,
    /// A galaxy, a star or a QSO (stars and QSOs only in the independent mock).
    pub kind: ObjectKind,
    /// Physical parameters of a galaxy. Stars and QSOs carry a galaxy's draw here that
    /// nothing uses (their own parameters are in `kind`; the truth table writes NaN).
    pub params: GalaxyParams,
    /// Programs it is observed in.
    pub programs: Vec<&'static str>,
    /// nside-64 pixel.
    pub pixel: i64,
}

fn program_of(pop: Population) -> &'static str {
    match pop {
        Population::Lrg | Population::Elg => "dark",
        _ => "bright",
    }
}

/// The independent mock's redshift ranges for the dark-program tracers, as DESI targets
/// them: LRGs 0.4–1.0 (Zhou et al. 2023, AJ 165, 58), ELGs 0.6–1.6 (Raichoor et al. 2023, AJ
/// 165, 126), uniform; the bright program's galaxies (BGS, Green Peas) stay in the web
/// volume. `None`: in the web volume.
pub fn survey_redshifts(pop: Population) -> Option<std::ops::Range<f64>> {
    match pop {
        Population::Lrg => Some(0.4..1.0),
        Population::Elg => Some(0.6..1.6),
        Population::Bgs | Population::GreenPea => None,
    }
}

/// Fibre [OII] 3726 + 3729 flux (10⁻¹⁷ erg/s/cm²) an ELG needs to be in the independent
/// mock: DESI's ELG redshift-success cut, log F_OII > 0.9 − 0.2 log Δχ² (Raichoor et al.
/// 2023, AJ 165, 126, eq. 3), at a typical Δχ² of 25.
pub const ELG_FIBRE_OII_LIMIT: f64 = 4.2;

/// Observed (attenuated) [OII] 3726 + 3729 flux of a galaxy in the fibre, 10⁻¹⁷ erg/s/cm²,
/// as [`observe`] makes it.
pub fn fibre_oii_flux(lib: &SspLibrary, p: &GalaxyParams, z: f64) -> f64 {
    let model = stellar_model(lib, p);
    let mass_formed = 10f64.powf(p.log_mass) / model.surviving;
    let lum = crate::galaxy::line_luminosities(p, mass_formed * model.sf.frac_10myr / 1e7);
    let dl_cm = PLANCK18.luminosity_distance(z) * crate::observe::MPC_CM;
    let ffib_gas = crate::observe::fibre_fraction(half_light_arcsec(p.r_half_kpc, z) * p.gas_size_ratio);
    (lum[0] + lum[1]) / (4.0 * std::f64::consts::PI * dl_cm * dl_cm) / 1e-17 * ffib_gas
}

/// DESI targets only the ELGs whose [OII] gives a redshift, so the independent mock's ELGs
/// at survey redshifts are the bright end of its prior: one below
/// [`ELG_FIBRE_OII_LIMIT`] is redrawn from the same prior (its own stream; up to 500
/// times, the last draw kept). Without it, z ≈ 1 ELGs of 10^10 M☉ with birth-cloud dust
/// have fibre [OII] ≈ 10⁻¹⁸, a hundred times below DESI's.
fn select_elgs(lib: &SspLibrary, cfg: &SimConfig, targets: &mut [Target]) {
    // Every ELG of the independent mock is at a survey redshift (`survey_redshifts`).
    targets.par_iter_mut().filter(|t| t.kind.is_galaxy() && t.params.population == Population::Elg).for_each(|t| {
        let mut rng = Rng::new(cfg.seed ^ 0xE1_6000_0000, t.targetid as u64);
        for _ in 0..500 {
            if fibre_oii_flux(lib, &t.params, t.z) >= ELG_FIBRE_OII_LIMIT {
                return;
            }
            t.params = draw_independent_params(Population::Elg, VOID, PLANCK18.age_gyr(t.z), &mut rng);
        }
    });
}

/// TARGETID of target `i` (main-survey-like: release, brick and object bits never collide
/// within the sample).
fn targetid_of(i: usize) -> i64 {
    39_632_000_000_000_000 + 7 * i as i64 + 3
}

/// Draws the targets: web, positions, populations, parameters (deterministic in the seed).
pub fn draw_targets(cfg: &SimConfig) -> (Footprint, Web, Vec<Target>) {
    let fp = Footprint::new(cfg.pixels.clone(), cfg.z_range.0, cfg.z_range.1);
    let mut rng = Rng::new(cfg.seed, 0);
    let web = Web::generate(&fp, cfg.node_spacing, &mut rng);
    let n_gp = if cfg.green_pea_fraction > 0.0 { ((cfg.n_objects as f64) * cfg.green_pea_fraction).ceil() as usize } else { 0 };
    let targets = (0..cfg.n_objects)
        .into_par_iter()
        .map(|i| {
            let mut rng = Rng::new(cfg.seed, 1 + i as u64);
            let pop = if i < n_gp {
                Population::GreenPea
            } else {
                match rng.uniform() {
                    u if u < 0.20 => Population::Lrg,
                    u if u < 0.50 => Population::Elg,
                    _ => Population::Bgs,
                }
            };
            let class_p: [f64; 4] = match pop {
                Population::Lrg => [0.05, 0.15, 0.40, 0.40],
                Population::Elg => [0.30, 0.35, 0.30, 0.05],
                Population::Bgs => [0.20, 0.25, 0.40, 0.15],
                Population::GreenPea => [0.45, 0.35, 0.20, 0.0],
            };
            let u = rng.uniform();
            let mut acc = 0.0;
            let mut class = VOID;
            for (k, p) in class_p.iter().enumerate() {
                acc += p;
                if u < acc {
                    class = k as i8;
                    break;
                }
            }
            let class = if class == SHEET && web.sheets.is_empty() { FILAMENT } else { class };
            let survey_z = if cfg.independent() { survey_redshifts(pop) } else { None };
            let (ra, dec, z, xyz, web_class, dist_filament) = match survey_z {
                // Beyond the web volume: a position anywhere in the footprint (a void draw is
                // uniform), a redshift in the tracer's DESI range. The environment class still
                // shapes the galaxy's history; it has no place in the web.
                Some(range) => {
                    let (ra, dec, _) = from_xyz(loop {
                        if let Some(p) = web.draw(VOID, &fp, &mut rng) {
                            break p;
                        }
                    });
                    let z = rng.range(range.start, range.end);
                    (ra, dec, z, to_xyz(ra, dec, PLANCK18.comoving_distance(z)), -1, f64::NAN)
                }
                None => {
                    let xyz = loop {
                        if let Some(p) = web.draw(class, &fp, &mut rng) {
                            break p;
                        }
                    };
                    let (ra, dec, d) = from_xyz(xyz);
                    (ra, dec, fp.redshift_of(d), xyz, class, web.distance_to_filament(xyz))
                }
            };
            let params = if cfg.independent() {
                draw_independent_params(pop, class, PLANCK18.age_gyr(z), &mut rng)
            } else {
                draw_params(pop, class, PLANCK18.age_gyr(z), &mut rng)
            };
            let mut programs = vec![program_of(pop)];
            if rng.uniform() < cfg.repeat_fraction {
                programs.push(if programs[0] == "dark" { "bright" } else { "dark" });
            }
            Target {
                targetid: targetid_of(i),
                ra,
                dec,
                z,
                xyz,
                web_class,
                dist_filament,
                kind: ObjectKind::Galaxy,
                params,
                programs,
                pixel: desi_io::layout::nside64_pixel(ra, dec),
            }
        })
        .collect();
    let mut targets: Vec<Target> = targets;
    if cfg.independent() {
        targets.extend(draw_stars_and_qsos(cfg, &fp, &web));
    }
    (fp, web, targets)
}

/// The independent mock's stars (bright program, MWS targets) and QSOs (dark program),
/// [`STAR_FRACTION`] and [`QSO_FRACTION`] of the galaxies' number, anywhere in the
/// footprint, numbered after the galaxies (whose draws they leave as they were).
fn draw_stars_and_qsos(cfg: &SimConfig, fp: &Footprint, web: &Web) -> Vec<Target> {
    let n_star = (cfg.n_objects as f64 * STAR_FRACTION).round() as usize;
    let n_qso = (cfg.n_objects as f64 * QSO_FRACTION).round() as usize;
    (0..n_star + n_qso)
        .into_par_iter()
        .map(|k| {
            let i = cfg.n_objects + k;
            let mut rng = Rng::new(cfg.seed, 1 + i as u64);
            let (kind, z, program) = if k < n_star {
                let s = StarParams::draw(&mut rng);
                (ObjectKind::Star(s), s.z(), "bright")
            } else {
                let q = QsoParams::draw(&mut rng);
                (ObjectKind::Qso(q), q.z, "dark")
            };
            // Any point of the footprint: a void draw is uniform over the volume.
            let xyz = loop {
                if let Some(p) = web.draw(VOID, fp, &mut rng) {
                    break p;
                }
            };
            let (ra, dec, _) = from_xyz(xyz);
            let params = draw_independent_params(Population::Bgs, VOID, PLANCK18.age_gyr(0.1), &mut rng);
            Target {
                targetid: targetid_of(i),
                ra,
                dec,
                z,
                xyz: [f64::NAN; 3],
                web_class: -1,
                dist_filament: f64::NAN,
                kind,
                params,
                programs: vec![program],
                pixel: desi_io::layout::nside64_pixel(ra, dec),
            }
        })
        .collect()
}

/// Truth of one target (whole galaxy unless named otherwise).
#[derive(Debug, Clone)]
pub struct Truth {
    /// The target.
    pub target: Target,
    /// log10 surviving stellar mass in the fibre.
    pub log_mass_fiber: f64,
    /// Fibre fraction.
    pub fibre_fraction: f64,
    /// Fibre fraction of the line emission.
    pub fibre_fraction_gas: f64,
    /// The library it was built from.
    pub library: ssp::Library,
    /// log10 SFR averaged over the last 100 Myr, M☉/yr.
    pub log_sfr_100myr: f64,
    /// Mass-weighted age, Gyr.
    pub age_mw: f64,
    /// Observed line fluxes of the whole galaxy, 1e-17 erg/s/cm².
    pub line_flux: Vec<f64>,
    /// Dn4000 of the noiseless rest-frame stellar model.
    pub dn4000: f64,
    /// HδA of the same.
    pub hdelta_a: f64,
    /// True photometry, nanomaggies (g, r, z, W1, W2).
    pub flux: [f64; 5],
}

/// Noisy camera data of one (target, program) spectrum.
struct SpectrumRow {
    index: usize,
    cameras: Vec<(Vec<f32>, Vec<f32>, Vec<i32>, Vec<f32>)>,
    photometry: [f64; 5],
    photometry_ivar: [f64; 5],
    /// FIBERFLUX g, r, z (the stars' fibre fraction and the colour gradient).
    fibre_photometry: [f64; 3],
    median_snr: [f64; 3],
    tsnr2: f64,
    nexp: usize,
    exptime: f64,
    z_measured: f64,
    zerr: f64,
    zwarn: i64,
    deltachi2: f64,
    ebv: f64,
}

/// Largest Milky-Way E(B−V) (SFD98) the simulator draws: E(B−V) is uniform on
/// [0, MAX_EBV], per target.
pub const MAX_EBV: f64 = 0.15;

/// The target's Milky-Way E(B−V) (SFD98 scale), written to FIBERMAP EBV. Drawn from its
/// own stream (seed, TARGETID), so the rest of the sample does not depend on it.
pub fn target_ebv(seed: u64, targetid: i64) -> f64 {
    Rng::new(seed ^ 0xDE57_0000_0000, targetid as u64).uniform() * MAX_EBV
}

/// The extinction curve on each camera's grid, computed once for every spectrum.
fn camera_milky_way() -> &'static [MilkyWay] {
    static CURVES: std::sync::OnceLock<Vec<MilkyWay>> = std::sync::OnceLock::new();
    CURVES.get_or_init(|| CAMERAS.iter().map(|c| MilkyWay::new(&c.wavelength())).collect())
}

/// Photometric 1σ errors, nanomaggies (≈ Legacy Surveys DR9 depths).
const PHOT_SIGMA: [f64; 5] = [0.03, 0.04, 0.08, 0.4, 1.2];

fn observe_row(
    lib: &SspLibrary,
    cfg: &SimConfig,
    t: &Target,
    index: usize,
    program: &str,
    stream: u64,
) -> (SpectrumRow, Observed, f64, f64) {
    let mut rng = Rng::new(cfg.seed ^ 0xA5A5_0000, stream);
    // The default mock's LSF is the Gaussian the fits assume; the independent mock's is
    // DESI's measured one (crate::lsf).
    let lsf = if cfg.independent() { FibreLsf::draw_genuine(&mut rng) } else { FibreLsf::draw_gaussian(&mut rng) };
    let (mut obs, surviving, age_mw) = match t.kind {
        ObjectKind::Galaxy => {
            let model = stellar_model(lib, &t.params);
            (observe(lib, &t.params, &model, t.z, &lsf, ObserveOptions::default()), model.surviving, model.age_mw)
        }
        ObjectKind::Star(s) => {
            let (w, f) = s.spectrum(lib);
            (observe_point_source(&w, &f, s.mag_r, &lsf), f64::NAN, f64::NAN)
        }
        ObjectKind::Qso(q) => {
            let (w, f) = q.spectrum();
            (observe_point_source(&w, &f, q.mag_r, &lsf), f64::NAN, f64::NAN)
        }
    };
    // Seen through the Milky Way: spectra and photometry are reddened (desiutil's
    // transmission), as DESI's coadds and the Legacy Surveys fluxes in FIBERMAP are.
    let ebv = target_ebv(cfg.seed, t.targetid);
    for (ci, curve) in camera_milky_way().iter().enumerate() {
        obs.model[ci].iter_mut().zip(curve.transmission(ebv)).for_each(|(f, t)| *f *= t);
    }
    let transmission = MilkyWay::new(&obs.sed.0).transmission(ebv);
    obs.sed.1.iter_mut().zip(transmission).for_each(|(f, t)| *f *= t);
    let bright = program == "bright";
    let exptime = if bright { cfg.exptime_bright } else { cfg.exptime_dark } * (1.0 + 0.1 * rng.normal()).max(0.5);
    let nexp = 2 + rng.below(3);
    let sys = if cfg.independent() && cfg.instrument_systematics { Systematics::draw(&mut rng) } else { Systematics::NONE };
    let mut cameras = Vec::new();
    let mut median_snr = [0.0; 3];
    let mut tsnr2 = 0.0;
    for (ci, cam) in CAMERAS.iter().enumerate() {
        let w = cam.wavelength();
        // The noise follows the light that reached the detector (the stars with their
        // colour gradient, the lines with their own fibre fraction); calibration and
        // sky-subtraction errors come after it, and the pipeline's ivar is the noise
        // model's, mis-scaled.
        let true_model: Vec<f64> =
            obs.model[ci].iter().zip(&obs.model_lines[ci]).zip(&w).map(|((f, lines), &l)| (f - lines) * sys.gradient(l) + lines).collect();
        let (mut flux, mut ivar) = add_noise(&true_model, &w, exptime, nexp, &mut rng);
        if sys != Systematics::NONE {
            let sky = sky_lines(&w);
            for j in 0..w.len() {
                flux[j] = (flux[j] as f64 * sys.calibration(w[j]) + sys.sky_residual[ci] * sky[j]) as f32;
                ivar[j] = (ivar[j] as f64 * sys.ivar_scale / sys.calibration(w[j]).powi(2)) as f32;
            }
        }
        let mut mask = vec![0i32; w.len()];
        for j in 0..w.len() {
            if !obs.covered[ci][j] {
                (ivar[j], mask[j]) = (0.0, MASK_NODATA);
            }
        }
        let mut snr: Vec<f64> = true_model.iter().zip(&ivar).map(|(m, &iv)| m * (iv as f64).sqrt()).collect();
        tsnr2 += ivar.iter().map(|&iv| iv as f64 * 1e-2).sum::<f64>();
        snr.sort_by(f64::total_cmp);
        median_snr[ci] = snr[snr.len() / 2];
        cameras.push((flux, ivar, mask, obs.resolution[ci].clone()));
    }
    let true_phot = photometry(&obs.sed.0, &obs.sed.1);
    let covered = bands_covered(&obs.sed.0);
    let mut photometry = [0.0; 5];
    let mut photometry_ivar = [0.0; 5];
    let mut fibre_photometry = [0.0; 3];
    for k in 0..5 {
        // A band the library does not reach is not measured (flux 0, ivar 0).
        if covered[k] {
            photometry[k] = true_phot[k] + PHOT_SIGMA[k] * rng.normal();
            photometry_ivar[k] = 1.0 / PHOT_SIGMA[k].powi(2);
        }
        if k < 3 {
            fibre_photometry[k] = photometry[k] * obs.fibre_fraction * sys.gradient(BANDS[k].1);
        }
    }
    let snr_all = median_snr.iter().sum::<f64>() / 3.0;
    let zerr = 3e-5 * (1.0 + t.z) * (5.0 / snr_all.max(0.5)).sqrt().max(0.3);
    let (zwarn, deltachi2) = if rng.uniform() < 0.01 { (4, rng.range(1.0, 9.0)) } else { (0, 25.0 + 400.0 * snr_all * snr_all) };
    let row = SpectrumRow {
        index,
        cameras,
        photometry,
        photometry_ivar,
        fibre_photometry,
        median_snr,
        tsnr2,
        nexp,
        exptime,
        z_measured: t.z + zerr * rng.normal(),
        zerr,
        zwarn,
        deltachi2,
        ebv,
    };
    (row, obs, surviving, age_mw)
}

fn f32_col(v: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(Float32Array::from_iter_values(v.map(|x| x as f32)))
}
fn field(name: &str, dt: DataType, unit: &str) -> Field {
    let f = Field::new(name, dt, false);
    if unit.is_empty() {
        f
    } else {
        f.with_metadata([("unit".to_string(), unit.to_string())].into())
    }
}

fn fibermap(targets: &[Target], rows: &[SpectrumRow], program: &str) -> Result<RecordBatch, SimError> {
    let t = |r: &SpectrumRow| &targets[r.index];
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    let mut push = |f: Field, c: ArrayRef| {
        fields.push(f);
        cols.push(c);
    };
    push(field("TARGETID", DataType::Int64, ""), Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| t(r).targetid))));
    push(field("COADD_FIBERSTATUS", DataType::Int32, ""), Arc::new(Int32Array::from_iter_values(rows.iter().map(|_| 0))));
    push(field("TARGET_RA", DataType::Float64, "deg"), Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| t(r).ra))));
    push(field("TARGET_DEC", DataType::Float64, "deg"), Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| t(r).dec))));
    push(field("OBJTYPE", DataType::Utf8, ""), Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "TGT"))));
    push(
        field("BRICKNAME", DataType::Utf8, ""),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| brickname(t(r).ra, t(r).dec)))),
    );
    push(
        field("MORPHTYPE", DataType::Utf8, ""),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| match (t(r).kind, t(r).params.population) {
            (ObjectKind::Star(_) | ObjectKind::Qso(_), _) | (_, Population::GreenPea) => "PSF",
            (_, Population::Lrg) => "DEV",
            _ => "EXP",
        }))),
    );
    push(field("EBV", DataType::Float32, "mag"), f32_col(rows.iter().map(|r| r.ebv)));
    for (k, band) in ["G", "R", "Z", "W1", "W2"].iter().enumerate() {
        push(field(&format!("FLUX_{band}"), DataType::Float32, "nanomaggy"), f32_col(rows.iter().map(|r| r.photometry[k])));
    }
    for (k, band) in ["G", "R", "Z", "W1", "W2"].iter().enumerate() {
        push(field(&format!("FLUX_IVAR_{band}"), DataType::Float32, "nanomaggy^-2"), f32_col(rows.iter().map(|r| r.photometry_ivar[k])));
    }
    for (k, band) in ["G", "R", "Z"].iter().enumerate() {
        push(field(&format!("FIBERFLUX_{band}"), DataType::Float32, "nanomaggy"), f32_col(rows.iter().map(|r| r.fibre_photometry[k])));
    }
    for (k, band) in ["G", "R", "Z"].iter().enumerate() {
        push(field(&format!("FIBERTOTFLUX_{band}"), DataType::Float32, "nanomaggy"), f32_col(rows.iter().map(|r| r.fibre_photometry[k])));
    }
    push(
        field("SERSIC", DataType::Float32, ""),
        f32_col(rows.iter().map(|r| match (t(r).kind, t(r).params.population) {
            (ObjectKind::Star(_) | ObjectKind::Qso(_), _) => 0.0,
            (_, Population::Lrg) => 4.0,
            _ => 1.0,
        })),
    );
    push(
        field("SHAPE_R", DataType::Float32, "arcsec"),
        f32_col(rows.iter().map(|r| {
            let tt = t(r);
            if tt.kind.is_galaxy() {
                half_light_arcsec(tt.params.r_half_kpc, tt.z)
            } else {
                0.0
            }
        })),
    );
    push(field("PHOTSYS", DataType::Utf8, ""), Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "S"))));
    // desitarget main-survey bits: LRG 0, ELG 1, QSO 2, BGS_ANY 60, MWS_ANY 62; BGS_BRIGHT 1,
    // BGS_FAINT 0; MWS_BROAD 0.
    push(
        field("DESI_TARGET", DataType::Int64, ""),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| match (t(r).kind, t(r).params.population) {
            (ObjectKind::Star(_), _) => 1 << 62,
            (ObjectKind::Qso(_), _) => 1 << 2,
            (_, Population::Lrg) => 1,
            (_, Population::Elg) => 2,
            _ => 1 << 60,
        }))),
    );
    push(
        field("BGS_TARGET", DataType::Int64, ""),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| match (t(r).kind, t(r).params.population) {
            (ObjectKind::Galaxy, Population::Bgs) => 2,
            (ObjectKind::Galaxy, Population::GreenPea) => 1,
            _ => 0,
        }))),
    );
    push(
        field("MWS_TARGET", DataType::Int64, ""),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| i64::from(matches!(t(r).kind, ObjectKind::Star(_)))))),
    );
    push(field("SCND_TARGET", DataType::Int64, ""), Arc::new(Int64Array::from_iter_values(rows.iter().map(|_| 0))));
    push(field("COADD_NUMEXP", DataType::Int16, ""), Arc::new(Int16Array::from_iter_values(rows.iter().map(|r| r.nexp as i16))));
    push(field("COADD_EXPTIME", DataType::Float32, "s"), f32_col(rows.iter().map(|r| r.exptime)));
    push(field("MEAN_FIBER_RA", DataType::Float64, "deg"), Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| t(r).ra))));
    push(field("MEAN_FIBER_DEC", DataType::Float64, "deg"), Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| t(r).dec))));
    let mjd0 = if program == "dark" { 59_400.0 } else { 59_420.0 };
    push(field("MEAN_MJD", DataType::Float64, "d"), Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| mjd0 + r.nexp as f64))));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(SimError::from)
}

fn brickname(ra: f64, dec: f64) -> String {
    // Legacy Surveys brick names: RA×10 (4 digits), p/m, |Dec|×10 (3 digits).
    format!("{:04}{}{:03}", (ra * 10.0).floor() as i64, if dec >= 0.0 { 'p' } else { 'm' }, (dec.abs() * 10.0).floor() as i64)
}

fn exp_fibermap(targets: &[Target], rows: &[SpectrumRow], program: &str) -> Result<RecordBatch, SimError> {
    let mut tid = Vec::new();
    let (mut night, mut expid, mut tile, mut fiber) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut mjd, mut exptime, mut ra, mut dec) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let base = if program == "dark" { 100_000 } else { 200_000 };
    for r in rows {
        let t = &targets[r.index];
        for e in 0..r.nexp {
            tid.push(t.targetid);
            night.push(20_210_601 + e as i32);
            expid.push(base + (r.index * 4 + e) as i32);
            tile.push(1000 + (t.pixel % 97) as i32 + e as i32);
            fiber.push((r.index % 5000) as i32);
            mjd.push(if program == "dark" { 59_400.0 } else { 59_420.0 } + e as f64);
            exptime.push((r.exptime / r.nexp as f64) as f32);
            ra.push(t.ra);
            dec.push(t.dec);
        }
    }
    let schema = Schema::new(vec![
        field("TARGETID", DataType::Int64, ""),
        field("NIGHT", DataType::Int32, ""),
        field("EXPID", DataType::Int32, ""),
        field("MJD", DataType::Float64, "d"),
        field("TILEID", DataType::Int32, ""),
        field("EXPTIME", DataType::Float32, "s"),
        field("FIBER", DataType::Int32, ""),
        field("FIBER_RA", DataType::Float64, "deg"),
        field("FIBER_DEC", DataType::Float64, "deg"),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from(tid)),
            Arc::new(Int32Array::from(night)),
            Arc::new(Int32Array::from(expid)),
            Arc::new(Float64Array::from(mjd)),
            Arc::new(Int32Array::from(tile)),
            Arc::new(Float32Array::from(exptime)),
            Arc::new(Int32Array::from(fiber)),
            Arc::new(Float64Array::from(ra)),
            Arc::new(Float64Array::from(dec)),
        ],
    )
    .map_err(SimError::from)
}

fn scores(targets: &[Target], rows: &[SpectrumRow]) -> Result<RecordBatch, SimError> {
    let mut fields = vec![field("TARGETID", DataType::Int64, "")];
    let mut cols: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| targets[r.index].targetid)))];
    for (k, cam) in ["B", "R", "Z"].iter().enumerate() {
        fields.push(field(&format!("MEDIAN_COADD_SNR_{cam}"), DataType::Float32, ""));
        cols.push(f32_col(rows.iter().map(|r| r.median_snr[k])));
    }
    for tracer in ["BGS", "LRG", "ELG"] {
        fields.push(field(&format!("TSNR2_{tracer}"), DataType::Float32, ""));
        cols.push(f32_col(rows.iter().map(|r| r.tsnr2)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(SimError::from)
}

fn redshifts(targets: &[Target], rows: &[SpectrumRow]) -> Result<RecordBatch, SimError> {
    let mut coeff = FixedSizeListBuilder::new(Float64Builder::new(), 10).with_field(Arc::new(Field::new("item", DataType::Float64, false)));
    for _ in rows {
        coeff.values().append_slice(&[0.0; 10]);
        coeff.append(true);
    }
    let schema = Schema::new(vec![
        field("TARGETID", DataType::Int64, ""),
        field("CHI2", DataType::Float64, ""),
        Field::new("COEFF", DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float64, false)), 10), false),
        field("Z", DataType::Float64, ""),
        field("ZERR", DataType::Float64, ""),
        field("ZWARN", DataType::Int64, ""),
        field("NPIXELS", DataType::Int64, ""),
        field("SPECTYPE", DataType::Utf8, ""),
        field("SUBTYPE", DataType::Utf8, ""),
        field("NCOEFF", DataType::Int64, ""),
        field("DELTACHI2", DataType::Float64, ""),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| targets[r.index].targetid))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|_| 7900.0))),
            Arc::new(coeff.finish()),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.z_measured))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.zerr))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.zwarn))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|_| 7900))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| targets[r.index].kind.spectype()))),
            // redrock's star templates have spectral-type subtypes; galaxies and QSOs none.
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| {
                if matches!(targets[r.index].kind, ObjectKind::Star(_)) {
                    "K"
                } else {
                    ""
                }
            }))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|_| 10))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.deltachi2))),
        ],
    )
    .map_err(SimError::from)
}

/// What [`simulate`] wrote.
#[derive(Debug, Clone)]
pub struct SimSummary {
    /// Coadd files written.
    pub coadds: Vec<PathBuf>,
    /// Number of targets (galaxies, stars and QSOs).
    pub n_targets: usize,
    /// Of which stars.
    pub n_stars: usize,
    /// Of which QSOs.
    pub n_qsos: usize,
    /// Number of spectra (targets × programs).
    pub n_spectra: usize,
    /// Number of Green-Pea-like galaxies.
    pub n_green_peas: usize,
    /// Truth table path.
    pub truth: PathBuf,
    /// Web geometry path.
    pub web: PathBuf,
}

/// Simulates the sample and writes the DESI tree under `out`:
/// `healpix/main/<program>/<pixel//100>/<pixel>/{coadd,redrock}-main-<program>-<pixel>.fits`,
/// `truth/truth.parquet` and `truth/web.json`. `progress(done, total)` is called
/// after each pixel file.
pub fn simulate(lib: &SspLibrary, cfg: &SimConfig, out: &Path, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<SimSummary, SimError> {
    if lib.library != cfg.library {
        return Err(SimError::Library { asked: cfg.library, given: lib.library });
    }
    let (fp, web, mut targets) = draw_targets(cfg);
    if cfg.independent() {
        select_elgs(lib, cfg, &mut targets);
    }
    // Group spectra by (program, pixel).
    let mut groups: BTreeMap<(&'static str, i64), Vec<usize>> = BTreeMap::new();
    for (i, t) in targets.iter().enumerate() {
        for &p in &t.programs {
            groups.entry((p, t.pixel)).or_default().push(i);
        }
    }
    let n_groups = groups.len();
    let mut truths: Vec<Option<Truth>> = vec![None; targets.len()];
    let mut coadds = Vec::new();
    let mut n_spectra = 0;
    for (g, ((program, pixel), members)) in groups.iter().enumerate() {
        let results: Vec<(SpectrumRow, Observed, f64, f64)> = members
            .par_iter()
            .map(|&i| {
                let stream = (i as u64) << 1 | u64::from(*program == "dark");
                observe_row(lib, cfg, &targets[i], i, program, stream)
            })
            .collect();
        let mut rows = Vec::with_capacity(results.len());
        for (row, obs, surviving, age_mw) in results {
            let t = &targets[row.index];
            if truths[row.index].is_none() {
                // Stars and QSOs have no galaxy truth: NaN.
                let galaxy = if t.kind.is_galaxy() { 1.0 } else { f64::NAN };
                let m = obs.mass_formed * model_sfr_fraction(&t.params, lib);
                truths[row.index] = Some(Truth {
                    target: t.clone(),
                    log_mass_fiber: galaxy * (t.params.log_mass + obs.fibre_fraction.log10()),
                    fibre_fraction: obs.fibre_fraction,
                    fibre_fraction_gas: obs.fibre_fraction_gas,
                    library: lib.library,
                    log_sfr_100myr: galaxy * (m / 1e8).max(1e-6).log10(),
                    age_mw,
                    line_flux: obs.line_flux.clone(),
                    dn4000: obs.dn4000,
                    hdelta_a: obs.hdelta_a,
                    flux: photometry(&obs.sed.0, &obs.sed.1),
                });
            }
            let _ = surviving;
            rows.push(row);
        }
        n_spectra += rows.len();
        let cams: Vec<Camera> = CAMERAS
            .iter()
            .enumerate()
            .map(|(ci, spec)| {
                let mut cam = Camera {
                    name: spec.name.into(),
                    wavelength: spec.wavelength(),
                    flux: vec![],
                    ivar: vec![],
                    mask: vec![],
                    resolution: vec![],
                    ndiag: NDIAG,
                };
                for r in &rows {
                    let (f, iv, m, res) = &r.cameras[ci];
                    cam.flux.extend_from_slice(f);
                    cam.ivar.extend_from_slice(iv);
                    cam.mask.extend_from_slice(m);
                    cam.resolution.extend_from_slice(res);
                }
                cam
            })
            .collect();
        let primary = vec![
            Key::str("SURVEY", SURVEY, "survey"),
            Key::str("PROGRAM", program, "program"),
            Key::str("SPGRP", "healpix", "spectral grouping"),
            Key::i64("SPGRPVAL", *pixel, "grouping value"),
            Key::i64("HPXPIXEL", *pixel, "HEALPix pixel"),
            Key::i64("HPXNSIDE", 64, "HEALPix nside"),
            Key::bool("HPXNEST", true, "NESTED ordering"),
            Key::str("SIMULATE", "desi-ard desi-sim", "simulated by desi-ard, not DESI data"),
            Key::i64("SIMSEED", cfg.seed as i64, "simulation seed"),
            Key::str("SIMLIB", lib.library.name(), "population library of the simulated galaxies"),
        ];
        let fm = fibermap(&targets, &rows, program)?;
        let efm = exp_fibermap(&targets, &rows, program)?;
        let sc = scores(&targets, &rows)?;
        let dir = desi_io::layout::pixel_dir(out, SURVEY, program, *pixel);
        std::fs::create_dir_all(&dir).map_err(|e| SimError::Io(dir.clone(), e))?;
        let coadd = desi_io::layout::coadd_path(out, SURVEY, program, *pixel);
        write_coadd(
            &coadd,
            &CoaddContents {
                primary: primary.clone(),
                fibermap: &fm,
                fibermap_keys: vec![Key::str("SURVEY", SURVEY, ""), Key::str("PROGRAM", program, "")],
                exp_fibermap: Some(&efm),
                cameras: &cams,
                scores: Some(&sc),
            },
        )?;
        let z = redshifts(&targets, &rows)?;
        let tsnr2 = RecordBatch::try_new(
            Arc::new(Schema::new(vec![field("TARGETID", DataType::Int64, ""), field("TSNR2_LRG", DataType::Float32, "")])),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| targets[r.index].targetid))),
                f32_col(rows.iter().map(|r| r.tsnr2)),
            ],
        )?;
        write_redrock(&desi_io::layout::redrock_path(out, SURVEY, program, *pixel), &primary, &z, &fm, Some(&efm), Some(&tsnr2))?;
        coadds.push(coadd);
        progress(g + 1, n_groups);
    }
    let truths: Vec<Truth> = truths.into_iter().flatten().collect();
    let truth_dir = out.join("truth");
    std::fs::create_dir_all(&truth_dir).map_err(|e| SimError::Io(truth_dir.clone(), e))?;
    let truth_path = truth_dir.join("truth.parquet");
    crate::truth::write_truth(&truth_path, &truths)?;
    let web_path = truth_dir.join("web.json");
    let web_json = serde_json::json!({
        "units": "comoving Mpc, flat LCDM H0=67.66 Om=0.3111; x = d cos(dec) cos(ra), y = d cos(dec) sin(ra), z = d sin(dec)",
        "z_range": [fp.z_min, fp.z_max],
        "pixels_nside64_nested": fp.pixels,
        "nodes": web.nodes,
        "filaments": web.filaments,
        "sheets": web.sheets,
    });
    std::fs::write(&web_path, serde_json::to_vec_pretty(&web_json).map_err(|source| SimError::Json { path: web_path.clone(), source })?)
        .map_err(|e| SimError::Io(web_path.clone(), e))?;
    let n_green_peas = targets.iter().filter(|t| t.params.population == Population::GreenPea).count();
    let n_stars = targets.iter().filter(|t| matches!(t.kind, ObjectKind::Star(_))).count();
    let n_qsos = targets.iter().filter(|t| matches!(t.kind, ObjectKind::Qso(_))).count();
    Ok(SimSummary { coadds, n_targets: targets.len(), n_stars, n_qsos, n_spectra, n_green_peas, truth: truth_path, web: web_path })
}

/// Fraction of the formed mass formed in the last 100 Myr.
fn model_sfr_fraction(p: &GalaxyParams, lib: &SspLibrary) -> f64 {
    crate::galaxy::star_formation(p, &lib.ages_gyr).frac_100myr
}

/// Line names, in truth-column order.
pub fn line_names() -> Vec<&'static str> {
    LINES.iter().map(|l| l.0).collect()
}
