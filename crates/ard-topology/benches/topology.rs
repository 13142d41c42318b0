//! Benchmark (issue 7): wall time and peak memory of the topology layer on N points —
//! tessellation, DTFE, persistence + skeleton, classification — and bytes per point.
//! One size per process, so that the peak resident memory (VmHWM) is that size's:
//! `cargo bench -p ard-topology --bench topology -- 200000` (and `-- 1000000`).
//! Points: half a uniform background, half in Gaussian tubes (σ = 1 Mpc) around random
//! segments 10–40 Mpc long, in a box with the mean density of the DESI BGS (~5e-3 Mpc⁻³).

use std::time::Instant;

use ard_topology::web::{segments, SegmentIndex};
use ard_topology::{classify, Delaunay, WebConfig};

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    let n: usize = std::env::args().skip(1).find(|a| !a.starts_with('-')).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut u = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let side = (n as f64 / 5e-3).cbrt();
    let mut normal = {
        let mut spare: Option<f64> = None;
        move |u: &mut dyn FnMut() -> f64| {
            if let Some(v) = spare.take() {
                return v;
            }
            let (a, b) = (u().max(1e-300), u());
            let r = (-2.0 * a.ln()).sqrt();
            spare = Some(r * (std::f64::consts::TAU * b).sin());
            r * (std::f64::consts::TAU * b).cos()
        }
    };
    let mut points = Vec::with_capacity(n);
    while points.len() < n / 2 {
        points.push([u() * side, u() * side, u() * side]);
    }
    while points.len() < n {
        let a = [u() * side, u() * side, u() * side];
        let len = 10.0 + 30.0 * u();
        let d = [normal(&mut u), normal(&mut u), normal(&mut u)];
        let nd = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        for _ in 0..(len as usize * 2).min(n - points.len()) {
            let t = u() * len;
            let p = [0, 1, 2].map(|k| (a[k] + t * d[k] / nd + normal(&mut u)).clamp(0.0, side));
            points.push(p);
        }
    }
    let threads = rayon::current_num_threads();
    let t0 = Instant::now();
    let del = Delaunay::new(&points).expect("tessellation");
    let t_del = t0.elapsed().as_secs_f64();
    let tets = del.finite_tets().count();
    let t1 = Instant::now();
    let rho = del.dtfe_density();
    let hull = del.hull_flags();
    let volume: f64 = del.finite_tets().map(|t| del.volume(t)).sum();
    let t_dtfe = t1.elapsed().as_secs_f64();
    let cfg = WebConfig::default();
    let t2 = Instant::now();
    let mut sk = ard_topology::morse::skeleton(&del, &rho, &cfg.skeleton);
    sk.arcs.retain(|a| a.saddle_density >= cfg.skeleton.trim_below * n as f64 / volume);
    let t_sk = t2.elapsed().as_secs_f64();
    let t3 = Instant::now();
    let index = SegmentIndex::new(segments(&sk));
    let nodes: Vec<[f64; 3]> = sk.nodes.iter().map(|&i| points[i as usize]).collect();
    let env = classify(&points, &rho, &hull, &index, &nodes, n as f64 / volume, &cfg);
    let t_cls = t3.elapsed().as_secs_f64();
    let total = t0.elapsed().as_secs_f64();
    let peak = peak_rss_bytes();
    let mut counts = [0usize; 4];
    for e in &env {
        counts[e.web_class.code() as usize] += 1;
    }
    println!("topology of {n} points ({side:.0} Mpc box), {threads} threads:");
    println!("  Delaunay: {t_del:.2} s ({tets} tetrahedra, {:.2} per point)", tets as f64 / n as f64);
    println!("  DTFE: {t_dtfe:.2} s");
    println!(
        "  persistence + skeleton: {t_sk:.2} s (pairs {:?}, significant {:?}; {} arcs, {} nodes)",
        sk.pairs,
        sk.significant,
        sk.arcs.len(),
        sk.nodes.len()
    );
    println!("  distances + classes: {t_cls:.2} s (void/sheet/filament/knot {counts:?})");
    println!("  total: {total:.2} s; peak memory {:.2} GB = {:.0} bytes per point", peak as f64 / 1e9, peak as f64 / n as f64);
}
