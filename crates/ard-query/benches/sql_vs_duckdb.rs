//! `desi-ard sql` versus DuckDB on the same files: a 5 M-row synthetic catalogue in
//! the ARD's HATS layout (50 zstd leaves × 100 k rows, 22 columns), a 2-column GROUP BY
//! and a 1 % selective predicate on an unsorted column. Run:
//!   DESI_ARD_PEER_PYTHON=$(bash scripts/python-peers.sh) cargo bench -p ard-query --bench sql_vs_duckdb
//! Both engines use 2 threads; each query's best of 5 runs is reported.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

const LEAVES: u64 = 50;
const ROWS: usize = 100_000;

fn lcg(s: &mut u64) -> f64 {
    *s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*s >> 11) as f64 / (1u64 << 53) as f64
}

fn make_catalog(ard: &Path) {
    let layout = ard_store::ArdLayout::new(ard);
    let mut seed = 1u64;
    for leaf in 0..LEAVES {
        let pixel = 27000 + leaf;
        let (lon, lat) = cdshealpix::nested::center(6, pixel);
        let n = ROWS;
        let mut ra = Vec::with_capacity(n);
        let mut dec = Vec::with_capacity(n);
        for _ in 0..n {
            ra.push(lon.to_degrees() + (lcg(&mut seed) - 0.5) * 0.4);
            dec.push(lat.to_degrees() + (lcg(&mut seed) - 0.5) * 0.4);
        }
        let f32s =
            |s: &mut u64, scale: f64| -> ArrayRef { Arc::new(Float32Array::from_iter_values((0..n).map(|_| (lcg(s) * scale) as f32))) };
        let types = ["GALAXY", "QSO", "STAR"];
        let mut fields = vec![
            Field::new("targetid", DataType::Int64, false),
            Field::new("survey", DataType::Utf8, false),
            Field::new("program", DataType::Utf8, false),
            Field::new("target_ra", DataType::Float64, false),
            Field::new("target_dec", DataType::Float64, false),
            Field::new("healpix", DataType::Int32, false),
            Field::new("z", DataType::Float64, false),
            Field::new("zerr", DataType::Float32, false),
            Field::new("zwarn", DataType::Int64, false),
            Field::new("spectype", DataType::Utf8, false),
            Field::new("deltachi2", DataType::Float32, false),
        ];
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values((0..n).map(|i| 39_600_000_000_000_000 + (leaf as i64) * 1_000_000 + i as i64))),
            Arc::new(StringArray::from_iter_values((0..n).map(|_| "main"))),
            Arc::new(StringArray::from_iter_values((0..n).map(|i| if i % 3 == 0 { "bright" } else { "dark" }))),
            Arc::new(Float64Array::from(ra)),
            Arc::new(Float64Array::from(dec)),
            Arc::new(Int32Array::from_iter_values((0..n).map(|_| pixel as i32))),
            Arc::new(Float64Array::from_iter_values((0..n).map(|_| lcg(&mut seed) * 1.5))),
            f32s(&mut seed, 1e-4),
            Arc::new(Int64Array::from_iter_values((0..n).map(|_| if lcg(&mut seed) < 0.05 { 4 } else { 0 }))),
            Arc::new(StringArray::from_iter_values((0..n).map(|_| types[(lcg(&mut seed) * 3.0) as usize % 3]))),
            f32s(&mut seed, 1000.0),
        ];
        for b in ["g", "r", "z", "w1", "w2"] {
            fields.push(Field::new(format!("flux_{b}"), DataType::Float32, false));
            cols.push(f32s(&mut seed, 100.0));
        }
        for c in ["snr_b", "snr_r", "snr_z"] {
            fields.push(Field::new(c, DataType::Float32, false));
            cols.push(f32s(&mut seed, 10.0));
        }
        fields.push(Field::new("zcat_primary", DataType::Boolean, false));
        cols.push(Arc::new(BooleanArray::from((0..n).map(|i| i % 17 != 0).collect::<Vec<_>>())));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
        let sorted = ard_store::catalog::with_healpix29_sorted(&batch, "target_ra", "target_dec", &["targetid"]).unwrap();
        ard_store::catalog::write_parquet(&layout.catalog_leaf(pixel), &sorted).unwrap();
    }
    let info = ard_store::hats::TableInfo {
        name: "desi_ard".into(),
        kind: ard_store::hats::TableKind::Object,
        ra: "target_ra".into(),
        dec: "target_dec".into(),
        extra: vec![],
    };
    ard_store::hats::finalize_table(&layout.catalog(), &info).unwrap();
}

fn best_of<F: FnMut() -> usize>(mut f: F) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut rows = 0;
    for _ in 0..5 {
        let t = Instant::now();
        rows = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, rows)
}

fn main() {
    let arg = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let tmp = tempfile::tempdir().unwrap();
    let ard = arg.map(std::path::PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    if !ard.join("catalog/desi_ard/dataset/_metadata").exists() {
        let t = Instant::now();
        make_catalog(&ard);
        eprintln!("wrote {} rows in {} leaves in {:.1} s", LEAVES as usize * ROWS, LEAVES, t.elapsed().as_secs_f64());
    }
    let q = ard_query::ArdQuery::open(&ard).unwrap();
    // The 99th percentile of flux_r gives a 1 % selective predicate.
    let p99 = 99.0;
    let queries = [
        ("group_by", "SELECT spectype, avg(z) AS mz, count(*) AS n FROM catalog GROUP BY spectype".to_string()),
        ("predicate_1pct", format!("SELECT targetid, z, flux_r FROM catalog WHERE flux_r > {p99}")),
        ("sorted_key_1pct", "SELECT targetid, z FROM catalog WHERE healpix = 27020".to_string()),
    ];
    println!("| query | desi-ard sql (s) | rows | DuckDB (s) | ratio |");
    println!("|---|---|---|---|---|");
    let py = std::env::var("DESI_ARD_PEER_PYTHON").ok();
    for (name, sql) in &queries {
        let (t, rows) = best_of(|| q.sql(sql).unwrap().iter().map(|b| b.num_rows()).sum());
        let duck = py.as_ref().map(|py| {
            let glob = format!("{}/catalog/desi_ard/dataset/**/*.parquet", ard.display());
            let dsql = sql.replace("FROM catalog", &format!("FROM read_parquet('{glob}')"));
            let script = format!(
                "import duckdb,time\ncon=duckdb.connect()\ncon.execute('SET threads=2')\nbest=1e9\nfor _ in range(5):\n    t=time.perf_counter(); r=con.execute(\"{dsql}\").fetchall(); best=min(best,time.perf_counter()-t)\nprint(best, len(r))"
            );
            let out = std::process::Command::new(py).args(["-c", &script]).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            text.split_whitespace().next().and_then(|s| s.parse::<f64>().ok()).unwrap_or(f64::NAN)
        });
        match duck {
            Some(d) => println!("| {name} | {t:.3} | {rows} | {d:.3} | {:.2} |", t / d),
            None => println!("| {name} | {t:.3} | {rows} | (set DESI_ARD_PEER_PYTHON) | |"),
        }
    }
}
