//! Issue 4 acceptance on simulator output with known truth (about 60 galaxies):
//! line-flux pulls with standard deviation within 0.8–1.3; σ* within 10 % of the
//! truth for S/N > 15; Dn4000 within 2 % and HδA within 0.3 Å of the truth for
//! S/N > 10. The per-object tolerances are checked on the typical object (median
//! absolute deviation), since a single noisy S/N ≈ 10 spectrum legitimately misses
//! HδA by more than 0.3 Å; the full-size run is `desi-ard validate physics`
//! (VALIDATION.md).

use ard_physics::FitConfig;
use ard_validate::physics::{run, summarise, Compared, MilkyWayInput};
use desi_sim::SimConfig;
use ssp::SspLibrary;

#[test]
fn physics_matches_the_simulator_truth() {
    let Some(lib) = ard_testkit::require("the E-MILES templates", SspLibrary::locate_and_load(None)) else { return };
    let dir = tempfile::tempdir().unwrap();
    // Deeper than the survey default so that the sample spans S/N ≈ 3–40.
    let sim = SimConfig {
        seed: 2026,
        n_objects: 60,
        pixels: vec![27244, 27245, 27246],
        exptime_dark: 4000.0,
        exptime_bright: 2400.0,
        ..Default::default()
    };
    let rows = run(&lib, &lib, MilkyWayInput::Corrected, &sim, &FitConfig::default(), dir.path(), &|_, _| {}).unwrap();
    let s = summarise(&rows);
    eprintln!("{}", s.markdown());
    assert!(s.n >= 55, "{} spectra", s.n);
    for ((name, _, _), p) in ard_validate::physics::LINES.iter().zip(&s.pulls) {
        assert!(p.n >= 40, "{name}: {} pulls", p.n);
        assert!((0.8..=1.3).contains(&p.std), "{name}: pull std {:.2} (goal 0.8–1.3)", p.std);
        assert!(p.median.abs() < 0.5, "{name}: median pull {:+.2}", p.median);
    }
    let (sig, _) = s.sigma;
    assert!(sig.n >= 5, "only {} galaxies with S/N > 15 and a constrained σ*", sig.n);
    assert!(sig.median.abs() < 0.10 && sig.robust_std < 0.10, "σ*: median {:+.3}, robust std {:.3}", sig.median, sig.robust_std);
    let (dn, _) = s.dn4000;
    assert!(dn.n >= 10 && dn.median.abs() < 0.02 && dn.robust_std < 0.02, "Dn4000: {dn:?}");
    let (hd, _) = s.hdelta_a;
    assert!(hd.n >= 10 && hd.median.abs() < 0.3 && hd.robust_std < 0.6, "HδA: {hd:?}");
    // The per-object scatter is the noise: the index errors are honest (pull std 0.7–1.4).
    let (pd, ph) = s.index_pulls;
    assert!((0.7..=1.4).contains(&pd.robust_std) && (0.7..=1.4).contains(&ph.robust_std), "index pulls: Dn4000 {pd:?}, HδA {ph:?}");

    // Issue 15, item 4: the simulator reddens every object by an E(B−V) of 0–0.15 (FIBERMAP
    // EBV). Corrected, the well-measured line fluxes scatter about the truth; fitted as
    // observed, they come out low by the Milky Way's transmission (≈ 10 % on average).
    let corrected = median_line_ratio(&rows);
    let observed_dir = tempfile::tempdir().unwrap();
    let observed = run(&lib, &lib, MilkyWayInput::AsObserved, &sim, &FitConfig::default(), observed_dir.path(), &|_, _| {}).unwrap();
    let as_observed = median_line_ratio(&observed);
    eprintln!("median measured/true line flux (S/N > 10): corrected {corrected:.3}, as observed {as_observed:.3}");
    assert!((corrected - 1.0).abs() < 0.03, "corrected line fluxes: median ratio {corrected:.3} to the truth");
    assert!(as_observed < 0.95, "uncorrected line fluxes: median ratio {as_observed:.3}, expected the Milky Way's dimming");
}

/// Median of measured/true over the lines measured at S/N > 10.
fn median_line_ratio(rows: &[Compared]) -> f64 {
    let mut r: Vec<f64> = rows
        .iter()
        .flat_map(|c| c.lines.iter())
        .filter_map(|&(truth, m)| m.filter(|&(f, e)| truth > 0.0 && e > 0.0 && f / e > 10.0).map(|(f, _)| f / truth))
        .collect();
    assert!(r.len() >= 20, "only {} lines at S/N > 10", r.len());
    r.sort_by(f64::total_cmp);
    r[r.len() / 2]
}
