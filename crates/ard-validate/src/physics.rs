//! Physics layer (issue 4) against the simulator's truth: line-flux pulls, stellar
//! dispersion, Dn4000 and HδA as a function of S/N.
//!
//! S/N is the issue's: the median of flux·√ivar per 0.8 Å pixel over rest-frame
//! 4000–5500 Å. Truth line fluxes are whole-galaxy; the spectrum sees the fibre
//! fraction of them, so the expected fibre flux is truth × `fiber_fraction`.

use std::collections::HashMap;
use std::path::Path;

use ard_core::StatusCode;
use ard_physics::lines::GAS_LINES;
use ard_physics::{measure, median_snr, FitConfig, ObjectInput, Status};
use desi_io::{layout, read_spectra, ReadOptions};
use desi_sim::SimConfig;
use rayon::prelude::*;
use ssp::SspLibrary;

use crate::{truth_batches, Result, TruthColumns};

/// The lines compared: (catalogue name, fit template name, truth column).
pub const LINES: [(&str, &str, &str); 6] = [
    ("oii_3726", "[OII]3726", "line_oii_3726"),
    ("oii_3729", "[OII]3729", "line_oii_3729"),
    ("h_alpha", "Halpha", "line_halpha"),
    ("h_beta", "Hbeta", "line_hbeta"),
    ("oiii_5007", "[OIII]5007", "line_oiii_5007"),
    ("nii_6584", "[NII]6583", "line_nii_6584"),
];

/// σ* is compared where the truth exceeds this many times the mock library's own width
/// ([`Compared::sigma_library`]: E-MILES 68 km/s, BC03 81 km/s, MaStar 77 km/s at 4700 Å).
pub const SIGMA_ABOVE_LIBRARY: f64 = 1.2;

/// Redshift at which the σ* comparison is split.
pub const SPLIT_Z: f64 = 0.3;

/// One observed spectrum compared with its truth.
#[derive(Debug, Clone)]
pub struct Compared {
    /// TARGETID.
    pub targetid: i64,
    /// Program of the coadd.
    pub program: String,
    /// Simulated population.
    pub class: String,
    /// True redshift.
    pub z: f64,
    /// S/N (see the module docs).
    pub snr: f64,
    /// Status of the physics layer.
    pub status: Status,
    /// True σ*, km/s.
    pub sigma_true: f64,
    /// The mock library's own line width as a dispersion at rest 4700 Å, km/s: a galaxy of
    /// smaller σ* still has lines this broad (the simulator cannot narrow its templates),
    /// so σ* is compared only above [`SIGMA_ABOVE_LIBRARY`] times it.
    pub sigma_library: f64,
    /// Measured σ*, its error, and whether it is flagged as constrained.
    pub sigma: Option<(f64, f64, bool)>,
    /// True and measured Dn4000 (value, error).
    pub dn4000: (f64, Option<(f64, f64)>),
    /// True and measured HδA.
    pub hdelta_a: (f64, Option<(f64, f64)>),
    /// Per line of [`LINES`]: expected fibre flux and measured (flux, error).
    pub lines: Vec<(f64, Option<(f64, f64)>)>,
}

struct TruthRow {
    class: String,
    z: f64,
    sigma: f64,
    dn4000: f64,
    hdelta_a: f64,
    fibre_lines: Vec<f64>,
}

fn read_truth(path: &Path) -> Result<HashMap<i64, TruthRow>> {
    let mut out = HashMap::new();
    for batch in truth_batches(path)? {
        let cols = TruthColumns { path, batch: &batch };
        let f32s = |name: &str| -> Result<Vec<f64>> { Ok(cols.f32(name)?.values().iter().map(|&v| v as f64).collect()) };
        let (ids, class) = (cols.i64("targetid")?, cols.str("sim_class")?);
        let z: Vec<f64> = cols.f64("z")?.values().to_vec();
        // Lines are seen through the gas's own fibre fraction.
        let (sigma, dn, hda, ff) = (f32s("sigma_star")?, f32s("dn4000")?, f32s("hdelta_a")?, f32s("fiber_fraction_gas")?);
        let lines: Vec<Vec<f64>> = LINES.iter().map(|(_, _, c)| f32s(c)).collect::<Result<_>>()?;
        for i in 0..batch.num_rows() {
            out.insert(
                ids.value(i),
                TruthRow {
                    class: class.value(i).to_string(),
                    z: z[i],
                    sigma: sigma[i],
                    dn4000: dn[i],
                    hdelta_a: hda[i],
                    fibre_lines: lines.iter().map(|l| l[i] * ff[i]).collect(),
                },
            );
        }
    }
    Ok(out)
}

/// Whether the spectra are corrected for Milky-Way extinction before fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MilkyWayInput {
    /// Divided by desiutil's transmission for FIBERMAP EBV (what ingest does).
    Corrected,
    /// As observed (the simulator reddens every object).
    AsObserved,
}

/// Simulates `sim` into `work` from the `mock` library (E-MILES, or BC03 for the
/// independent mock), runs the physics layer with the `lib` templates on every spectrum — corrected for
/// Milky-Way extinction as ingest does, unless `milky_way` is [`MilkyWayInput::AsObserved`]
/// (to show what the correction is worth) — and compares with the truth.
/// `progress(done, total)` is called as spectra finish.
#[allow(clippy::too_many_arguments)]
pub fn run(
    lib: &SspLibrary,
    mock: &SspLibrary,
    milky_way: MilkyWayInput,
    sim: &SimConfig,
    fit: &FitConfig,
    work: &Path,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<Compared>> {
    let summary = desi_sim::simulate(mock, sim, work, &|_, _| {})?;
    let truth = read_truth(&summary.truth)?;
    let sigma_library = ard_core::cosmology::C_KM_S * ard_core::constants::sigma_of_fwhm(mock.fwhm_at(4700.0)) / 4700.0;
    let mut jobs = Vec::new();
    for input in layout::discover(work)? {
        let read = read_spectra(&input.coadd, input.redrock.as_deref(), &ReadOptions::default())?;
        jobs.push(match milky_way {
            MilkyWayInput::Corrected => read.batch.milky_way_corrected(),
            MilkyWayInput::AsObserved => read.batch,
        });
    }
    let total: usize = jobs.iter().map(|b| b.len()).sum();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut out = Vec::new();
    for batch in &jobs {
        let z: Vec<Option<f64>> = match batch.redshifts.as_ref().and_then(|r| desi_io::columns::optional_f64(r, "Z")) {
            Some(v) => v.into_iter().map(Some).collect(),
            None => vec![None; batch.len()],
        };
        // redrock's SPECTYPE decides, as in ingest: stars and QSOs (in the independent mock)
        // must come back `not_galaxy`, unfitted. ZWARN is taken as 0 so that the few
        // spectra the mock flags are measured too.
        let spectype = batch.redshifts.as_ref().and_then(|r| desi_io::columns::optional_str(r, "SPECTYPE"));
        let rows: Vec<Option<Compared>> = (0..batch.len())
            .into_par_iter()
            .map(|i| {
                let t = truth.get(&batch.targetid[i])?;
                let obj = ObjectInput::from_batch(batch, i, z[i], spectype.as_ref().map(|s| s[i].as_str()), Some(0));
                let m = measure(lib, fit, &obj);
                let snr = z[i].and_then(|z| median_snr(&batch.wavelength, obj.flux, obj.ivar, obj.mask, z)).unwrap_or(0.0);
                let line = |name: &str| {
                    m.fit.as_ref().and_then(|f| f.lines.iter().find(|l| GAS_LINES[l.line].name == name)).map(|l| (l.flux, l.err))
                };
                let c = Compared {
                    targetid: batch.targetid[i],
                    program: batch.program.clone(),
                    class: t.class.clone(),
                    z: t.z,
                    snr,
                    status: m.status.clone(),
                    sigma_true: t.sigma,
                    sigma_library,
                    sigma: m.fit.as_ref().map(|f| (f.sigma_star, f.sigma_star_err, f.sigma_star_ok)),
                    dn4000: (t.dn4000, m.dn4000.map(|x| (x.value, x.err))),
                    hdelta_a: (t.hdelta_a, m.hdelta_a.map(|x| (x.value, x.err))),
                    lines: LINES.iter().zip(&t.fibre_lines).map(|((_, name, _), &truth)| (truth, line(name))).collect(),
                };
                let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(d, total);
                Some(c)
            })
            .collect();
        out.extend(rows.into_iter().flatten());
    }
    Ok(out)
}

/// Sample statistics of a set of numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// How many.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// Standard deviation.
    pub std: f64,
    /// Robust standard deviation, 1.4826 × median absolute deviation.
    pub robust_std: f64,
}

/// Statistics of `v` (NaN-free).
pub fn stats(v: &[f64]) -> Stats {
    let n = v.len();
    if n == 0 {
        return Stats::default();
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let median = s[n / 2];
    let mean = s.iter().sum::<f64>() / n as f64;
    let std = (s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64).sqrt();
    let mut dev: Vec<f64> = s.iter().map(|x| (x - median).abs()).collect();
    dev.sort_by(|a, b| a.total_cmp(b));
    Stats { n, median, std, robust_std: 1.4826 * dev[n / 2] }
}

/// The numbers the acceptance is about.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Pulls (measured − true)/error per line of [`LINES`].
    pub pulls: Vec<Stats>,
    /// σ/σ_true − 1 for S/N > 15 where vel_disp_ok, and the fraction of those within 10 %.
    pub sigma: (Stats, f64),
    /// The same below and above z = [`SPLIT_Z`] (the independent mock's LRGs and ELGs lie
    /// above it, the web volume's galaxies below).
    pub sigma_by_z: [(Stats, f64); 2],
    /// Dn4000/true − 1 for S/N > 10, fraction within 2 %.
    pub dn4000: (Stats, f64),
    /// HδA − true (Å) for S/N > 10, fraction within 0.3 Å.
    pub hdelta_a: (Stats, f64),
    /// Pulls (measured − true)/error of Dn4000 and HδA, S/N > 10: are the errors honest?
    pub index_pulls: (Stats, Stats),
    /// Objects by status.
    pub statuses: Vec<(String, usize)>,
    /// Spectra compared.
    pub n: usize,
}

/// Summarises a run.
pub fn summarise(rows: &[Compared]) -> Summary {
    let ok: Vec<&Compared> = rows.iter().filter(|r| r.status == Status::Ok).collect();
    let pulls = (0..LINES.len())
        .map(|k| {
            let v: Vec<f64> = ok
                .iter()
                .filter_map(|r| {
                    let (t, m) = r.lines[k];
                    m.filter(|(_, e)| *e > 0.0 && e.is_finite()).map(|(f, e)| (f - t) / e)
                })
                .collect();
            stats(&v)
        })
        .collect();
    let frac = |v: &[f64], tol: f64| if v.is_empty() { 0.0 } else { v.iter().filter(|x| x.abs() <= tol).count() as f64 / v.len() as f64 };
    let sigma_of = |keep: &dyn Fn(&Compared) -> bool| -> Vec<f64> {
        ok.iter()
            .filter(|r| r.snr > 15.0 && r.sigma_true > SIGMA_ABOVE_LIBRARY * r.sigma_library && keep(r))
            .filter_map(|r| r.sigma.filter(|s| s.2).map(|s| s.0 / r.sigma_true - 1.0))
            .collect()
    };
    let sig = sigma_of(&|_| true);
    let (sig_lo, sig_hi) = (sigma_of(&|r| r.z < SPLIT_Z), sigma_of(&|r| r.z >= SPLIT_Z));
    let dn: Vec<f64> = rows.iter().filter(|r| r.snr > 10.0).filter_map(|r| r.dn4000.1.map(|m| m.0 / r.dn4000.0 - 1.0)).collect();
    let hd: Vec<f64> = rows.iter().filter(|r| r.snr > 10.0).filter_map(|r| r.hdelta_a.1.map(|m| m.0 - r.hdelta_a.0)).collect();
    let pull = |get: &dyn Fn(&Compared) -> (f64, Option<(f64, f64)>)| -> Stats {
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| r.snr > 10.0)
            .filter_map(|r| {
                let (t, m) = get(r);
                m.filter(|m| m.1 > 0.0).map(|(x, e)| (x - t) / e)
            })
            .collect();
        stats(&v)
    };
    let index_pulls = (pull(&|r| r.dn4000), pull(&|r| r.hdelta_a));
    let mut statuses: HashMap<String, usize> = HashMap::new();
    for r in rows {
        *statuses.entry(r.status.code().to_string()).or_default() += 1;
    }
    let mut statuses: Vec<(String, usize)> = statuses.into_iter().collect();
    statuses.sort();
    Summary {
        pulls,
        sigma: (stats(&sig), frac(&sig, 0.10)),
        sigma_by_z: [(stats(&sig_lo), frac(&sig_lo, 0.10)), (stats(&sig_hi), frac(&sig_hi, 0.10))],
        dn4000: (stats(&dn), frac(&dn, 0.02)),
        hdelta_a: (stats(&hd), frac(&hd, 0.3)),
        index_pulls,
        statuses,
        n: rows.len(),
    }
}

impl Summary {
    /// The table for `VALIDATION.md`.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "{} spectra; status: {}\n\n",
            self.n,
            self.statuses.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        ));
        s.push_str("| quantity | sample | n | median | std | robust std | within tolerance | goal |\n|---|---|---|---|---|---|---|---|\n");
        for ((name, _, _), p) in LINES.iter().zip(&self.pulls) {
            s.push_str(&format!(
                "| {name} flux pull (meas − true)/err | status ok | {} | {:+.2} | {:.2} | {:.2} | – | std 0.8–1.3 |\n",
                p.n, p.median, p.std, p.robust_std
            ));
        }
        let row = |name: &str, sample: &str, st: &Stats, f: f64, tol: &str| {
            format!(
                "| {name} | {sample} | {} | {:+.4} | {:.4} | {:.4} | {:.0} % | {tol} |\n",
                st.n,
                st.median,
                st.std,
                st.robust_std,
                100.0 * f
            )
        };
        s.push_str(&row("σ*/σ_true − 1", "S/N > 15, vel_disp_ok, σ_true > 1.2 σ_library", &self.sigma.0, self.sigma.1, "within 10 %"));
        for (k, (st, f)) in self.sigma_by_z.iter().enumerate().filter(|(_, (st, _))| st.n > 0) {
            let sample = format!("same, z {} {SPLIT_Z}", if k == 0 { "<" } else { "≥" });
            s.push_str(&row("σ*/σ_true − 1", &sample, st, *f, "within 10 %"));
        }
        s.push_str(&row("Dn4000/true − 1", "S/N > 10", &self.dn4000.0, self.dn4000.1, "within 2 %"));
        s.push_str(&row("HδA − true (Å)", "S/N > 10", &self.hdelta_a.0, self.hdelta_a.1, "within 0.3 Å"));
        for (name, p) in [("Dn4000", &self.index_pulls.0), ("HδA", &self.index_pulls.1)] {
            s.push_str(&format!(
                "| {name} pull (meas − true)/err | S/N > 10 | {} | {:+.2} | {:.2} | {:.2} | – | std ≈ 1 (honest errors) |\n",
                p.n, p.median, p.std, p.robust_std
            ));
        }
        s
    }
}
