//! Issue 7 on the built-in sample: `desi-ard topology` writes the environment columns
//! into the catalogue; 1 and 8 sub-volumes agree (same `web_class` for ≥ 95 % of the
//! galaxies, `dist_filament` correlation ≥ 0.95, Pearson and rank); the 8 sub-volumes run one at a time
//! then merged give exactly the one-process result; and re-ingesting a pixel makes the
//! topology stale (its rows null, `info` says so) until the next run.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type, Int8Type};
use arrow_array::Array;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard")).args(args).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

type Row = (Option<i8>, Option<f32>, Option<f32>, String);

fn environment(ard: &Path) -> HashMap<(i64, String, String), Row> {
    let q = ard_query::ArdQuery::open(ard).unwrap();
    let mut out = HashMap::new();
    for b in q.sql("SELECT targetid, survey, program, web_class, dist_filament, sigma_5, topology_status FROM catalog").unwrap() {
        // Strings may come back as Utf8View from the SQL engine.
        let text = |k: usize| -> Vec<String> {
            let c = b.column(k);
            match c.as_string_view_opt() {
                Some(v) => (0..v.len()).map(|i| v.value(i).to_string()).collect(),
                None => (0..c.len()).map(|i| c.as_string::<i32>().value(i).to_string()).collect(),
            }
        };
        let id = b.column(0).as_primitive::<Int64Type>();
        let (sv, pg, st) = (text(1), text(2), text(6));
        let (wc, df, s5) =
            (b.column(3).as_primitive::<Int8Type>(), b.column(4).as_primitive::<Float32Type>(), b.column(5).as_primitive::<Float32Type>());
        for i in 0..b.num_rows() {
            let opt8 = |a: &arrow_array::Int8Array| a.is_valid(i).then(|| a.value(i));
            let opt32 = |a: &arrow_array::Float32Array| a.is_valid(i).then(|| a.value(i));
            out.insert((id.value(i), sv[i].clone(), pg[i].clone()), (opt8(wc), opt32(df), opt32(s5), st[i].clone()));
        }
    }
    out
}

#[test]
fn topology_columns_sub_volumes_merge_and_staleness() {
    let work = tempfile::tempdir().unwrap();
    let (raw, ard) = (work.path().join("raw"), work.path().join("ard"));
    let a = ard.to_str().unwrap();
    assert!(run(&["simulate", raw.to_str().unwrap(), "--quiet"]).0);
    let (ok, out) = run(&["ingest", raw.to_str().unwrap(), a, "--quiet", "--no-physics"]);
    assert!(ok, "{out}");
    let before = environment(&ard);
    assert!(before.values().all(|r| r.0.is_none() && r.3 == "pending"), "ingest leaves the topology columns null and pending");
    let (_, info) = run(&["info", a]);
    assert!(info.contains("topology: not computed"), "{info}");

    // One process, 8 sub-volumes.
    let (ok, out) = run(&["topology", a, "--subvolumes", "8"]);
    assert!(ok, "{out}");
    let eight = environment(&ard);
    let (_, info) = run(&["info", a]);
    assert!(info.contains("topology: current"), "{info}");
    let computed: Vec<&Row> = eight.values().filter(|r| r.3 == "ok" || r.3 == "boundary").collect();
    assert!(computed.len() > 2000, "only {} galaxies got an environment", computed.len());
    assert!(computed.iter().all(|r| r.0.is_some_and(|c| (0..=3).contains(&c))));
    let with_s5 = computed.iter().filter(|r| r.2.is_some_and(|s| s > 0.0)).count();
    assert!(with_s5 as f64 > 0.95 * computed.len() as f64, "Σ5 for {with_s5} of {}", computed.len());
    for class in 0..=3 {
        assert!(computed.iter().any(|r| r.0 == Some(class)), "no galaxy of class {class}");
    }
    // Rows outside the population say why.
    assert!(eight
        .values()
        .filter(|r| r.0.is_none())
        .all(|r| ["not_galaxy", "zwarn", "not_primary", "no_redshift"].contains(&r.3.as_str())));

    // Sub-volume by sub-volume, then the merge: identical.
    for i in 0..8 {
        let (ok, out) = run(&["topology", a, "--subvolumes", "8", "--subvolume", &i.to_string()]);
        assert!(ok, "{out}");
    }
    let (ok, out) = run(&["topology", a, "--subvolumes", "8", "--merge"]);
    assert!(ok, "{out}");
    assert_eq!(environment(&ard), eight, "merged sub-volumes differ from the one-process run");
    // A missing sub-volume result is named.
    let (ok, out) = run(&["topology", a, "--subvolumes", "3", "--merge"]);
    assert!(!ok && out.contains("sub-volume 0 of 3 has no result"), "{out}");
    // Results computed with other settings are not merged.
    let (ok, out) = run(&["topology", a, "--subvolumes", "8", "--merge", "--nsig", "2"]);
    assert!(!ok && out.contains("sub-volume 0 of 8 has a stale result"), "{out}");

    // One sub-volume: the decomposition changes little.
    let (ok, out) = run(&["topology", a, "--subvolumes", "1"]);
    assert!(ok, "{out}");
    let one = environment(&ard);
    let keys: Vec<_> = eight.keys().filter(|k| eight[*k].0.is_some() && one[*k].0.is_some()).collect();
    let same = keys.iter().filter(|k| eight[**k].0 == one[**k].0).count() as f64 / keys.len() as f64;
    let pairs: Vec<(f64, f64)> = keys.iter().filter_map(|k| Some((eight[*k].1? as f64, one[*k].1? as f64))).collect();
    let n = pairs.len() as f64;
    let (mx, my) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let cov: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let (vx, vy): (f64, f64) = (pairs.iter().map(|p| (p.0 - mx).powi(2)).sum(), pairs.iter().map(|p| (p.1 - my).powi(2)).sum());
    let corr = cov / (vx * vy).sqrt();
    let ranks = |v: Vec<f64>| -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        for (k, &i) in idx.iter().enumerate() {
            r[i] = k as f64;
        }
        r
    };
    let (rx, ry) = (ranks(pairs.iter().map(|p| p.0).collect()), ranks(pairs.iter().map(|p| p.1).collect()));
    let mr = (n - 1.0) / 2.0;
    let spearman = rx.iter().zip(&ry).map(|(a, b)| (a - mr) * (b - mr)).sum::<f64>() / rx.iter().map(|a| (a - mr).powi(2)).sum::<f64>();

    eprintln!(
        "1 vs 8 sub-volumes: same web_class {same:.3}, dist_filament rank correlation {spearman:.4} (Pearson {corr:.4}) over {} galaxies",
        keys.len()
    );
    assert!(same >= 0.95, "same web_class for {same:.3}");
    assert!(corr >= 0.95, "dist_filament correlation {corr:.4}");
    assert!(spearman >= 0.95, "dist_filament rank correlation {spearman:.4}");

    // Re-ingest one pixel: its rows are null again and the topology is stale.
    let mut stack = vec![ard.join("manifest")];
    let mut record = None;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                record = Some(p);
            }
        }
    }
    let record = record.expect("a manifest record");
    std::fs::remove_file(&record).unwrap();
    let (ok, out) = run(&["ingest", raw.to_str().unwrap(), a, "--quiet", "--no-physics"]);
    assert!(ok && out.contains("1 processed"), "{out}");
    let (_, info) = run(&["info", a]);
    assert!(info.contains("topology: STALE — 1 pixels"), "{info}");
    let after = environment(&ard);
    assert!(after.values().any(|r| r.3 == "pending"));
    let (ok, out) = run(&["topology", a]);
    assert!(ok, "{out}");
    let (_, info) = run(&["info", a]);
    assert!(info.contains("topology: current"), "{info}");
    assert_eq!(environment(&ard), one, "recomputing after the re-ingest gives the same columns");
}
