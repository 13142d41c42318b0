//! The Milky-Way transmission against desiutil 4.0.1 `dust.dust_transmission`, run live
//! (issue 15, item 4): relative difference ≤ 1e-4 at every wavelength from the far UV to
//! the near IR (the DESI range 3600–9824 Å densely) and E(B−V) from 0.01 to 0.5.

use std::process::Command;

use ard_core::dust::MilkyWay;

#[test]
fn transmission_equals_desiutil() {
    let Some(python) = ard_testkit::peer_python() else { return };
    let mut wave: Vec<f64> = vec![1200.0, 1500.0, 1800.0, 2175.0, 2500.0, 2600.0, 2650.0, 2700.0, 2750.0, 3000.0, 3300.0];
    wave.extend((0..7781).step_by(7).map(|i| 3600.0 + 0.8 * i as f64));
    wave.extend([10000.0, 12200.0, 15000.0, 22000.0, 26500.0]);
    let ebvs = [0.01, 0.05, 0.15, 0.5];
    let list = |v: &[f64]| v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(",");
    let script = format!(
        "import numpy as np\nfrom desiutil.dust import dust_transmission\nw = np.array([{}])\nfor e in [{}]:\n    print(' '.join(repr(float(t)) for t in dust_transmission(w, e)))\n",
        list(&wave),
        list(&ebvs)
    );
    let out = Command::new(&python).args(["-c", &script]).output().expect("run python");
    assert!(out.status.success(), "desiutil: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), ebvs.len(), "{text}");
    let mw = MilkyWay::new(&wave);
    let mut worst: f64 = 0.0;
    for (line, &e) in lines.iter().zip(&ebvs) {
        let theirs: Vec<f64> = line.split_whitespace().map(|t| t.parse().expect("a number")).collect();
        let ours = mw.transmission(e);
        assert_eq!(theirs.len(), ours.len());
        for ((w, a), b) in wave.iter().zip(&ours).zip(&theirs) {
            let rel = (a / b - 1.0).abs();
            worst = worst.max(rel);
            assert!(rel <= 1e-4, "E(B-V) {e} at {w} Å: ours {a}, desiutil {b}");
        }
    }
    eprintln!("largest relative difference to desiutil: {worst:.2e}");
}
