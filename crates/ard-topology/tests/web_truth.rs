//! The skeleton against the simulator's web (desi-sim's mock web: nodes, filaments
//! joining them, galaxies in knots, filaments, sheets and voids), in a volume dense
//! enough to trace it: 20,000 galaxies in 16 nside-64 pixels at 0.05 < z < 0.25.
//!
//! Completeness: the fraction of the true filament length (sampled every 0.5 Mpc) within
//! 2 Mpc of the recovered skeleton; purity: the fraction of the skeleton's length within
//! 2 Mpc of a true filament axis. Segments on the volume's boundary are left out of
//! purity, and true filament points near the boundary out of completeness.
//!
//! For exploring the calibration: NSIG, SMOOTH (arc passes) and DSMOOTH (density passes)
//! override the settings; DIAG=1 prints, per true filament with a gap, which stretch the
//! skeleton misses and how far the gap's centre is from it.

use ard_topology::web::segments;
use ard_topology::{analyse, classify, SegmentIndex, WebConfig};
use desi_sim::web::point_segment_distance;
use desi_sim::SimConfig;

#[test]
fn skeleton_recovers_the_simulated_filaments_and_knots() {
    // Seed 7 is the sample the defaults (1.5 σ, trim below 0.7 × the mean density) were
    // chosen on (VALIDATION.md); seed 8 is a second, independent web.
    for seed in [7, 8] {
        check(seed);
    }
}

fn check(seed: u64) {
    let cfg = SimConfig { n_objects: 20_000, seed, ..Default::default() };
    let (fp, web, targets) = desi_sim::sample::draw_targets(&cfg);
    let points: Vec<[f64; 3]> = targets.iter().map(|t| t.xyz).collect();
    let mut wcfg = WebConfig::default();
    if let Ok(v) = std::env::var("NSIG") {
        wcfg.skeleton.n_sigma = v.parse().unwrap();
    }
    if let Ok(v) = std::env::var("TRIM") {
        wcfg.skeleton.trim_below = v.parse().unwrap();
    }
    if let Ok(v) = std::env::var("DSMOOTH") {
        wcfg.skeleton.density_smooth = v.parse().unwrap();
    }
    if let Ok(v) = std::env::var("SMOOTH") {
        wcfg.skeleton.smooth_passes = v.parse().unwrap();
    }
    let va = analyse(&points, &wcfg).expect("tessellation");
    if std::env::var("DIAG").is_ok() {
        let (mut same, mut diff) = ((0.0, 0.0), (0.0, 0.0));
        for arc in &va.skeleton.arcs {
            if arc.boundary {
                continue;
            }
            let mut len = 0.0;
            let mut near = 0.0;
            for w in arc.points.windows(2) {
                let l = (0..3).map(|k| (w[1][k] - w[0][k]).powi(2)).sum::<f64>().sqrt();
                let mid: [f64; 3] = std::array::from_fn(|k| 0.5 * (w[0][k] + w[1][k]));
                len += l;
                if web.distance_to_filament(mid) < 2.0 {
                    near += l;
                }
            }
            let slot = if arc.ends[0] == arc.ends[1] { &mut same } else { &mut diff };
            slot.0 += len;
            slot.1 += near;
        }
        eprintln!(
            "arcs joining one maximum to itself: length {:.0}, purity {:.3}; two maxima: length {:.0}, purity {:.3}",
            same.0,
            same.1 / same.0,
            diff.0,
            diff.1 / diff.0
        );
    }
    let segs = segments(&va.skeleton);
    eprintln!(
        "{} points, {} tets, pairs {:?}, significant {:?}, thresholds {:?}, {} arcs, {} segments, {} nodes",
        points.len(),
        va.n_tets,
        va.skeleton.pairs,
        va.skeleton.significant,
        va.skeleton.thresholds,
        va.skeleton.arcs.len(),
        segs.len(),
        va.skeleton.nodes.len()
    );
    assert_eq!(va.skeleton.unfilled_loops, 0);
    // Purity over the skeleton's length, boundary arcs excluded.
    let (mut len_all, mut len_near) = (0.0, 0.0);
    for s in segs.iter().filter(|s| !s.boundary) {
        let len = ((0..3).map(|k| (s.b[k] - s.a[k]).powi(2)).sum::<f64>()).sqrt();
        let mid: [f64; 3] = std::array::from_fn(|k| 0.5 * (s.a[k] + s.b[k]));
        len_all += len;
        if web.distance_to_filament(mid) < 2.0 {
            len_near += len;
        }
    }
    let purity = len_near / len_all;
    // Completeness along the true filaments, away from the footprint's edges.
    let index = SegmentIndex::new(segs.clone());
    let (mut n_true, mut n_found) = (0, 0);
    let mut per_fil = Vec::new();
    for &[a, b] in &web.filaments {
        let (t0, f0) = (n_true, n_found);
        let mut pattern = String::new();
        let (pa, pb) = (web.nodes[a], web.nodes[b]);
        let len = point_segment_distance(pa, pb, pb);
        let steps = (len / 0.5).ceil() as usize;
        for k in 0..=steps {
            let t = k as f64 / steps as f64;
            let p: [f64; 3] = std::array::from_fn(|i| pa[i] + t * (pb[i] - pa[i]));
            // 3 Mpc inside the footprint on every side.
            let inside = [[3.0, 0.0, 0.0], [-3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, -3.0, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, -3.0]]
                .iter()
                .all(|d| fp.contains([p[0] + d[0], p[1] + d[1], p[2] + d[2]]));
            if !inside {
                continue;
            }
            n_true += 1;
            if index.distance(&p) < 2.0 {
                n_found += 1;
                pattern.push('#');
            } else {
                pattern.push('.');
            }
        }
        if std::env::var("DIAG").is_ok() && pattern.contains('.') {
            let near = |q: [f64; 3], r: [f64; 3]| (0..3).map(|k| (q[k] - r[k]).powi(2)).sum::<f64>().sqrt() < 3.0;
            let linked = va
                .skeleton
                .arcs
                .iter()
                .filter(|arc| arc.points.iter().any(|&q| near(q, pa)) && arc.points.iter().any(|&q| near(q, pb)))
                .count();
            let (gap_lo, gap_hi) = (pattern.find('.').unwrap_or(0), pattern.rfind('.').unwrap_or(0));
            let mid = |k: usize| -> [f64; 3] {
                let t = k as f64 / pattern.len().max(1) as f64;
                std::array::from_fn(|i| pa[i] + t * (pb[i] - pa[i]))
            };
            let gap_dist = index.distance(&mid((gap_lo + gap_hi) / 2));
            eprintln!("pattern {pattern} arcs through both ends: {linked}; gap centre {gap_dist:.1} Mpc from the skeleton");
        }
        if n_true > t0 {
            per_fil.push((point_segment_distance(pa, pb, pb), n_true - t0, n_found - f0));
        }
    }
    if std::env::var("DIAG").is_ok() {
        for (len, t, f) in &per_fil {
            eprintln!("filament length {len:.1}: {f}/{t}");
        }
    }
    let completeness = n_found as f64 / n_true as f64;
    eprintln!("completeness {completeness:.3} ({n_found}/{n_true}), purity {purity:.3}");

    // Knots: most simulated knot galaxies are classified as knots.
    let nodes: Vec<[f64; 3]> = va.skeleton.nodes.iter().map(|&i| points[i as usize]).collect();
    let env = classify(&points, &va.density, &va.hull, &index, &nodes, va.mean_density, &wcfg);
    let knots: Vec<usize> = (0..targets.len()).filter(|&i| targets[i].web_class == 3 && !env[i].boundary).collect();
    let knot_ok = knots.iter().filter(|&&i| env[i].web_class.code() == 3).count() as f64 / knots.len() as f64;
    let fil: Vec<usize> = (0..targets.len()).filter(|&i| targets[i].web_class == 2 && !env[i].boundary).collect();
    let fil_ok = fil.iter().filter(|&&i| env[i].web_class.code() >= 2).count() as f64 / fil.len() as f64;
    eprintln!("knot galaxies classed knot {knot_ok:.3}; filament galaxies classed filament or knot {fil_ok:.3}");
    if std::env::var("DIAG").is_ok() {
        for delta in [20.0, 50.0, 100.0, 200.0] {
            let cut = delta * va.mean_density;
            let per_class: Vec<f64> = (0..4)
                .map(|c| {
                    let m: Vec<usize> = (0..targets.len()).filter(|&i| targets[i].web_class == c).collect();
                    m.iter().filter(|&&i| va.density[i] >= cut).count() as f64 / m.len().max(1) as f64
                })
                .collect();
            eprintln!("density >= {delta} x mean: fraction of void/sheet/filament/knot galaxies {per_class:.3?}");
        }
    }
    // Knots: the interior nodes that have filaments, found when a surviving maximum
    // lies within 2 Mpc.
    let node_points: Vec<[f64; 3]> = nodes.clone();
    let connected: Vec<[f64; 3]> = (0..web.nodes.len())
        .filter(|&i| web.filaments.iter().any(|f| f.contains(&i)))
        .map(|i| web.nodes[i])
        .filter(|p| {
            [[3.0, 0.0, 0.0], [-3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, -3.0, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, -3.0]]
                .iter()
                .all(|d| fp.contains([p[0] + d[0], p[1] + d[1], p[2] + d[2]]))
        })
        .collect();
    let found =
        connected.iter().filter(|p| node_points.iter().any(|q| (0..3).map(|k| (p[k] - q[k]).powi(2)).sum::<f64>().sqrt() < 2.0)).count();
    let node_recovery = found as f64 / connected.len() as f64;
    eprintln!("seed {seed}: completeness {completeness:.3}, purity {purity:.3}, nodes found {found}/{} = {node_recovery:.3}, knot galaxies classed knot {knot_ok:.3}", connected.len());
    // Issue 7: completeness ≥ 0.9 and purity ≥ 0.7 within 2 Mpc; knots recovered.
    assert!(completeness >= 0.9, "seed {seed}: filament completeness {completeness:.3}");
    assert!(purity >= 0.7, "seed {seed}: filament purity {purity:.3}");
    assert!(node_recovery >= 0.7, "seed {seed}: nodes recovered {node_recovery:.3}");
    assert!(knot_ok >= 0.5, "seed {seed}: knot galaxies classed knot {knot_ok:.3}");
}
