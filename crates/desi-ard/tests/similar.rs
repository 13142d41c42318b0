//! Issue 8: `desi-ard similar`, the SQL table function `similar(...)` and the workflows'
//! command-line behaviour on a small simulated ARD. The search's answers are checked
//! against a brute-force cosine computed here from the emb_pca values read through SQL.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// One small ARD (60 galaxies in 4 pixels, seed 5) shared by the tests of this file.
fn sample() -> (&'static Path, &'static Path) {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    let d = DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let (raw, ard) = (d.path().join("raw"), d.path().join("ard"));
        let (ok, o, e) =
            run(&["simulate", raw.to_str().unwrap(), "--objects", "60", "--pixels", "27244,27245,27246,27247", "--seed", "5", "--quiet"]);
        assert!(ok, "{o}{e}");
        let (ok, o, e) = run(&["ingest", raw.to_str().unwrap(), ard.to_str().unwrap(), "--quiet", "--no-physics"]);
        assert!(ok, "{o}{e}");
        (d, raw, ard)
    });
    (d.1.as_path(), d.2.as_path())
}

/// (targetid, survey, program, vector) of every row with an emb_pca, via SQL/JSON.
fn embeddings(ard: &Path) -> Vec<(i64, String, String, Vec<f64>)> {
    let (ok, out, err) = run(&[
        "sql",
        ard.to_str().unwrap(),
        "SELECT targetid, survey, program, emb_pca FROM catalog WHERE emb_pca IS NOT NULL",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    rows.iter()
        .map(|r| {
            (
                r["targetid"].as_i64().unwrap(),
                r["survey"].as_str().unwrap().to_string(),
                r["program"].as_str().unwrap().to_string(),
                r["emb_pca"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect(),
            )
        })
        .collect()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    d / (a.iter().map(|x| x * x).sum::<f64>().sqrt() * b.iter().map(|x| x * x).sum::<f64>().sqrt())
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines().skip(1).map(|l| l.split(',').map(|s| s.to_string()).collect()).collect()
}

#[test]
fn similar_returns_the_brute_force_neighbours_query_first() {
    let (_, ard) = sample();
    let emb = embeddings(ard);
    assert!(emb.len() >= 50, "{} rows with emb_pca", emb.len());
    let q = &emb[7];
    let (ok, out, err) = run(&[
        "similar",
        ard.to_str().unwrap(),
        "--targetid",
        &q.0.to_string(),
        "--survey",
        &q.1,
        "--program",
        &q.2,
        "--k",
        "10",
        "--format",
        "csv",
    ]);
    assert!(ok, "{err}");
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[0][0], q.0.to_string(), "the query object itself comes first");
    assert!((rows[0][1].parse::<f64>().unwrap() - 1.0).abs() < 1e-5);
    let mut brute: Vec<(f64, i64)> = emb.iter().map(|r| (cosine(&q.3, &r.3), r.0)).collect();
    brute.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (i, row) in rows.iter().enumerate() {
        let score: f64 = row[1].parse().unwrap();
        assert!((score - brute[i].0).abs() < 1e-4, "rank {i}: {score} vs {}", brute[i].0);
        assert!(rows.windows(2).all(|w| w[0][1].parse::<f64>().unwrap() >= w[1][1].parse::<f64>().unwrap()), "nearest first");
    }
    // --exclude-self and a pre-filter.
    let (ok, out, err) = run(&[
        "similar",
        ard.to_str().unwrap(),
        "--targetid",
        &q.0.to_string(),
        "--survey",
        &q.1,
        "--program",
        &q.2,
        "--k",
        "5",
        "--exclude-self",
        "--where",
        "program = 'dark'",
        "--columns",
        "z,program",
        "--format",
        "csv",
    ]);
    assert!(ok, "{err}");
    let rows = csv_rows(&out);
    assert!(rows.iter().all(|r| r[0] != q.0.to_string() || r[5] != q.2));
    assert!(rows.iter().all(|r| r[5] == "dark"), "{out}");
    // An empty filter result is not an error.
    let (ok, out, err) = run(&["similar", ard.to_str().unwrap(), "--targetid", &q.0.to_string(), "--where", "z > 99", "--format", "csv"]);
    assert!(ok, "{err}");
    assert_eq!(csv_rows(&out).len(), 0);
    assert!(err.contains("no catalogue row"), "{err}");
}

#[test]
fn batch_form_sql_table_function_and_plot() {
    let (_, ard) = sample();
    let emb = embeddings(ard);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("ids.txt");
    std::fs::write(&list, format!("# two queries\n{}\n{}\n", emb[0].0, emb[3].0)).unwrap();
    let png = dir.path().join("n.png");
    let (ok, out, err) = run(&[
        "similar",
        ard.to_str().unwrap(),
        "--targetids",
        list.to_str().unwrap(),
        "--k",
        "4",
        "--format",
        "csv",
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 8);
    assert_eq!(rows[0][2], emb[0].0.to_string());
    assert_eq!(rows[4][2], emb[3].0.to_string());
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);
    // SQL: the table function joins like a table; k beyond the table returns every row.
    let sql = format!(
        "SELECT s.targetid, s.score, s.rank, c.z FROM similar('emb_pca', {}, 3) s JOIN catalog c USING (targetid, survey, program) ORDER BY s.rank",
        emb[0].0
    );
    let (ok, out, err) = run(&["sql", ard.to_str().unwrap(), &sql, "--format", "csv"]);
    assert!(ok, "{err}");
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][0], emb[0].0.to_string());
    assert_eq!(rows.iter().map(|r| r[2].as_str()).collect::<Vec<_>>(), vec!["1", "2", "3"]);
    let (ok, out, _) = run(&[
        "sql",
        ard.to_str().unwrap(),
        &format!("SELECT count(*) AS n FROM similar('emb_pca', {}, 100000)", emb[0].0),
        "--format",
        "csv",
    ]);
    assert!(ok);
    assert_eq!(out.lines().nth(1).unwrap().trim(), emb.len().to_string());
    // Clear errors.
    for (sql, want) in [
        ("SELECT * FROM similar('emb_pca', 1, 5)", "TARGETID 1 has no emb_pca"),
        ("SELECT * FROM similar('emb_nope', 1, 5)", "no column \"emb_nope\""),
        ("SELECT * FROM similar('emb_pca', 1)", "takes 3 or 5 arguments"),
        ("SELECT * FROM similar('emb_astroclip', 1, 5)", "null in every row"),
    ] {
        let (ok, out, err) = run(&["sql", ard.to_str().unwrap(), sql]);
        assert!(!ok && err.contains(want), "{sql}: {out}{err}");
    }
    let (ok, _, err) = run(&["similar", ard.to_str().unwrap(), "--targetid", "1"]);
    assert!(!ok && err.contains("TARGETID 1 has no emb_pca"), "{err}");
}

#[test]
fn quenching_workflow_says_what_is_missing_or_uses_the_truth() {
    let (raw, ard) = sample();
    let out = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(&["workflow", "quenching", ard.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("logm_p50") && err.contains("web_class") && err.contains("--truth"), "{err}");
    let truth = raw.join("truth/truth.parquet");
    let (ok, text, err) =
        run(&["workflow", "quenching", ard.to_str().unwrap(), "--truth", truth.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(text.contains("SIMULATOR TRUTH"), "{text}");
    let csv = std::fs::read_to_string(out.path().join("quenching-by-environment.csv")).unwrap();
    assert!(csv.starts_with("# source: SIMULATOR TRUTH"));
    assert!(csv.lines().count() >= 3, "{csv}");
    assert!(std::fs::metadata(out.path().join("quenching-by-environment.png")).unwrap().len() > 10_000);
}
