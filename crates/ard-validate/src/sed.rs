//! The SED layer against the simulator's truth: in-fibre stellar mass and SFR (the fit
//! sees the fibre spectrum; the truth table holds the fibre mass and the fibre fraction),
//! median bias and scatter by S/N and by class, and how often the truth lies inside the
//! 16–84 % credible interval (calibrated intervals: 68 %).

use std::collections::HashMap;
use std::path::Path;

use ard_core::cosmology::PLANCK18;
use ard_sed::{fit, ObservedLibrary, SedConfig};
use desi_io::{layout, read_spectra, ReadOptions};
use desi_sim::SimConfig;
use rayon::prelude::*;
use ssp::SspLibrary;

use crate::{truth_batches, Result, TruthColumns};

/// One galaxy: truth and fit.
#[derive(Debug, Clone)]
pub struct SedCompared {
    /// TARGETID.
    pub targetid: i64,
    /// Simulated class.
    pub class: String,
    /// Median flux·√ivar per pixel, rest 4000–5500 Å.
    pub snr: f64,
    /// True fibre log M (surviving), log SFR (100 Myr, fibre).
    pub truth: (f64, f64),
    /// Fitted 16/50/84 % of log M and log SFR (the posterior's); None when not fitted.
    pub fit: Option<([f64; 3], [f64; 3])>,
    /// The same as the catalogue stores them: widened by the template-mismatch floor.
    pub stored: Option<([f64; 3], [f64; 3])>,
    /// Likelihood calls.
    pub n_calls: usize,
}

fn read_truth(path: &Path) -> Result<HashMap<i64, (String, f64, f64)>> {
    let mut out = HashMap::new();
    for batch in truth_batches(path)? {
        let cols = TruthColumns { path, batch: &batch };
        let (ids, class) = (cols.i64("targetid")?, cols.str("sim_class")?);
        let (m, s, ff) = (cols.f32("logm_fiber")?, cols.f32("logsfr_100myr")?, cols.f32("fiber_fraction")?);
        let imf = cols.str("imf")?;
        for i in 0..batch.num_rows() {
            // A Chabrier-IMF truth (the BC03 mock) is put on the fits' Salpeter-slope IMF.
            let (dm, ds) = if imf.value(i) == ssp::Library::Bc03.imf() {
                (ard_core::constants::LOG_MASS_CHABRIER_TO_SALPETER, ard_core::constants::LOG_SFR_CHABRIER_TO_SALPETER)
            } else {
                (0.0, 0.0)
            };
            out.insert(
                ids.value(i),
                (class.value(i).to_string(), m.value(i) as f64 + dm, s.value(i) as f64 + (ff.value(i) as f64).log10() + ds),
            );
        }
    }
    Ok(out)
}

fn median_snr(wave: &[f64], flux: &[f32], ivar: &[f32], z: f64) -> f64 {
    let mut v: Vec<f64> = wave
        .iter()
        .enumerate()
        .filter(|(_, w)| (4000.0..5500.0).contains(&(*w / (1.0 + z))))
        .map(|(j, _)| flux[j] as f64 * (ivar[j] as f64).sqrt())
        .collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Simulates `sim` into `work` from the `mock` library and fits every galaxy with the
/// `lib` templates.
pub fn run(
    lib: &SspLibrary,
    mock: &SspLibrary,
    sim: &SimConfig,
    cfg: &SedConfig,
    work: &Path,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<SedCompared>> {
    let summary = desi_sim::simulate(mock, sim, work, &|_, _| {})?;
    let truth = read_truth(&summary.truth)?;
    let mut jobs = Vec::new();
    for input in layout::discover(work)? {
        let read = read_spectra(&input.coadd, input.redrock.as_deref(), &ReadOptions::default())?;
        let z = read.batch.redshifts.as_ref().and_then(|r| desi_io::columns::optional_f64(r, "Z")).unwrap_or_default();
        let apertures = ard_sed::aperture_ratios(&read.batch.fibermap);
        // Corrected for Milky-Way extinction, as ingest does.
        let b = std::sync::Arc::new(read.batch.milky_way_corrected());
        // As ingest does, only what redrock calls a galaxy is fitted (the independent mock
        // holds stars and QSOs).
        let spectype = b.redshifts.as_ref().and_then(|r| desi_io::columns::optional_str(r, "SPECTYPE"));
        for i in 0..b.len() {
            if spectype.as_ref().is_some_and(|s| s[i].trim() != "GALAXY") {
                continue;
            }
            jobs.push((b.clone(), i, z.get(i).copied().unwrap_or(f64::NAN), apertures[i].map_or(0.0, f64::log10)));
        }
    }
    let total = jobs.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let rows: Vec<Option<SedCompared>> = jobs
        .par_iter()
        .map(|(b, i, z, aperture)| {
            let (class, tm, ts) = truth.get(&b.targetid[*i])?.clone();
            // As ingest does: the physics layer's σ* where trusted, else the default.
            let phys = ard_physics::measure(
                lib,
                &ard_physics::FitConfig::default(),
                &ard_physics::ObjectInput::from_batch(b, *i, Some(*z), Some("GALAXY"), Some(0)),
            );
            let sigma = phys.fit.filter(|f| f.sigma_star_ok).map_or(cfg.sigma_kms, |f| f.sigma_star);
            let obs = ObservedLibrary::for_object(lib, &PLANCK18, b, *i, *z, sigma);
            let r = obs.ok().and_then(|o| fit(&o, &PLANCK18, *z, cfg, b.targetid[*i] as u64, *aperture).ok());
            let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(d, total);
            Some(SedCompared {
                targetid: b.targetid[*i],
                class,
                snr: median_snr(&b.wavelength, b.flux_of(*i), b.ivar_of(*i), *z),
                truth: (tm, ts),
                n_calls: r.as_ref().map_or(0, |r| r.n_calls),
                stored: r.as_ref().map(|r| (r.log_mass_stored(&cfg.systematic_floor), r.log_sfr_stored(&cfg.systematic_floor))),
                fit: r.map(|r| (r.log_mass, r.log_sfr)),
            })
        })
        .collect();
    Ok(rows.into_iter().flatten().collect())
}

/// sSFR below which SFRs are compared at the floor (spectra cannot tell 10⁻¹³ from 10⁻¹⁵ /yr).
pub const LOG_SSFR_COMPARE_FLOOR: f64 = -12.0;

/// Whether the truth's SFR lies in a fitted (p16, p50, p84) log SFR interval, compared as
/// sSFR — each side divided by its own mass, both floored at [`LOG_SSFR_COMPARE_FLOOR`]
/// (± 0.02 dex) — so that a quiescent galaxy whose fitted sSFR reaches the floor counts as
/// covered whatever its mass error.
pub fn ssfr_covered(interval: [f64; 3], fit_log_mass: f64, true_log_sfr: f64, true_log_mass: f64) -> bool {
    let floor = |v: f64| v.max(LOG_SSFR_COMPARE_FLOOR);
    let truth = floor(true_log_sfr - true_log_mass);
    floor(interval[0] - fit_log_mass) - 0.02 <= truth && truth <= floor(interval[2] - fit_log_mass) + 0.02
}

fn group(rows: &[&SedCompared]) -> Option<String> {
    let fitted: Vec<&&SedCompared> = rows.iter().filter(|r| r.fit.is_some()).collect();
    if fitted.is_empty() {
        return None;
    }
    let mut dm = Vec::new();
    let mut ds = Vec::new();
    let (mut im, mut is, mut jm, mut js) = (0, 0, 0, 0);
    for r in &fitted {
        let (m, s) = r.fit.unwrap_or(([0.0; 3], [0.0; 3]));
        let (wm, ws) = r.stored.unwrap_or(([0.0; 3], [0.0; 3]));
        let (tm, ts) = r.truth;
        dm.push(m[1] - tm);
        let floor = |v: f64, mass: f64| v.max(mass + LOG_SSFR_COMPARE_FLOOR);
        ds.push(floor(s[1], m[1]) - floor(ts, tm));
        im += usize::from(m[0] <= tm && tm <= m[2]);
        jm += usize::from(wm[0] <= tm && tm <= wm[2]);
        is += usize::from(ssfr_covered(s, m[1], ts, tm));
        js += usize::from(ssfr_covered(ws, m[1], ts, tm));
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let med = v[v.len() / 2];
        let mut abs: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
        abs.sort_by(f64::total_cmp);
        (med, 1.4826 * abs[abs.len() / 2])
    };
    let (bm, sm) = stats(&mut dm);
    let (bs, ss) = stats(&mut ds);
    let n = fitted.len() as f64;
    Some(format!(
        "| {} | {bm:+.3} | {sm:.3} | {:.2} | {:.2} | {bs:+.3} | {ss:.3} | {:.2} | {:.2} |",
        fitted.len(),
        im as f64 / n,
        jm as f64 / n,
        is as f64 / n,
        js as f64 / n
    ))
}

/// The VALIDATION.md table: by S/N bin and by class.
pub fn markdown(rows: &[SedCompared]) -> String {
    let mut s = String::from(
        "| sample | fitted | log M bias | log M scatter (NMAD) | log M in posterior [p16, p84] | in stored (⊕ floor) | log SFR bias | log SFR scatter | log SFR in posterior [p16, p84] | in stored (⊕ floor) |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let bins: [(&str, f64, f64); 4] =
        [("S/N ≤ 5", 0.0, 5.0), ("5 < S/N ≤ 10", 5.0, 10.0), ("10 < S/N ≤ 20", 10.0, 20.0), ("S/N > 20", 20.0, f64::INFINITY)];
    for (name, lo, hi) in bins {
        let sel: Vec<&SedCompared> = rows.iter().filter(|r| r.snr > lo && r.snr <= hi).collect();
        if let Some(line) = group(&sel) {
            s.push_str(&format!("| {name} |{}\n", &line[1..]));
        }
    }
    let sel: Vec<&SedCompared> = rows.iter().filter(|r| r.snr > 5.0).collect();
    if let Some(line) = group(&sel) {
        s.push_str(&format!("| **all S/N > 5** |{}\n", &line[1..]));
    }
    let mut classes: Vec<&str> = rows.iter().map(|r| r.class.as_str()).collect();
    classes.sort_unstable();
    classes.dedup();
    for c in classes {
        let sel: Vec<&SedCompared> = rows.iter().filter(|r| r.class == c && r.snr > 5.0).collect();
        if let Some(line) = group(&sel) {
            s.push_str(&format!("| {c}, S/N > 5 |{}\n", &line[1..]));
        }
    }
    let calls: Vec<usize> = rows.iter().filter(|r| r.fit.is_some()).map(|r| r.n_calls).collect();
    if !calls.is_empty() {
        s.push_str(&format!(
            "\n{} of {} galaxies fitted; median {} likelihood calls per fit. Bias: median(fit p50 − truth); scatter: 1.4826 × median absolute deviation; SFR compared at sSFR ≥ 10⁻¹² /yr; SFR coverage compared as sSFR (each side over its own mass, floored at 10⁻¹² /yr).\n",
            calls.len(),
            rows.len(),
            {
                let mut c = calls.clone();
                c.sort_unstable();
                c[c.len() / 2]
            }
        ));
    }
    s
}
