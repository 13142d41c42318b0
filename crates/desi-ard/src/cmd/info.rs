//! `desi-ard info`: what an ARD holds — objects, pixels, columns, the layers computed,
//! disk use, failures.

use std::path::{Path, PathBuf};

use anyhow::Result;
use ard_store::manifest::{PixelRecord, PixelStatus};

/// Arguments of `desi-ard info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ARD folder.
    pub ard: PathBuf,
}

/// Runs `desi-ard info`.
pub fn run(args: Args) -> Result<()> {
    let ard = args.ard.as_path();
    let layout = ard_store::ArdLayout::new(ard);
    let props = std::fs::read_to_string(layout.catalog().join("hats.properties")).map_err(|e| {
        anyhow::anyhow!("{}: not an ARD (no catalog/desi_ard/hats.properties: {e}); run `desi-ard ingest` first", ard.display())
    })?;
    let get = |k: &str| props.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or("?").to_string();
    let records = PixelRecord::all(&layout)?;
    let failed: Vec<_> = records.iter().filter(|r| r.status == PixelStatus::Failed).collect();
    let schema =
        ard_store::catalog::read_parquet(&layout.catalog_leaf(records.iter().find(|r| r.status.published()).map(|r| r.pixel).unwrap_or(0)))
            .map(|b| b.schema())
            .ok();
    let du = |p: &Path| -> u64 {
        let mut total = 0;
        let mut stack = vec![p.to_path_buf()];
        while let Some(d) = stack.pop() {
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    let q = e.path();
                    if q.is_dir() {
                        stack.push(q);
                    } else {
                        total += e.metadata().map(|m| m.len()).unwrap_or(0);
                    }
                }
            }
        }
        total
    };
    println!("ARD {}", ard.display());
    println!(
        "  objects (rows): {}   partitions: {} (HEALPix order {})",
        get("hats_nrows"),
        records.len() - failed.len(),
        get("hats_order")
    );
    println!("  created: {}   by: {}", get("hats_creation_date"), get("hats_builder"));
    println!("  cosmology: {}", get("desi_ard_cosmology"));
    if let Some(s) = schema {
        let names: Vec<String> = s.fields().iter().map(|f| f.name().clone()).collect();
        println!("  columns ({}): {}", names.len(), names.join(", "));
    }
    print_layers(ard, &records)?;
    for (name, p) in [
        ("catalog", layout.collection()),
        ("spectra", ard.join("spectra")),
        ("exposures", layout.exposures()),
        ("manifest", layout.manifest_dir()),
    ] {
        println!("  {name:<10} {:>10.1} MB", du(&p) as f64 / 1e6);
    }
    let topo = ard_ingest::topology::TopologyState::read(ard)?;
    match (&topo.last_run, ard_ingest::topology::stale_pixels(ard)?) {
        (None, _) => println!("  topology: not computed (run `desi-ard topology {}`)", ard.display()),
        (Some(r), stale) if stale.is_empty() => {
            println!("  topology: current ({} galaxies, {} sub-volumes, {} sigma)", r.galaxies, r.subvolumes, r.n_sigma)
        }
        (Some(_), stale) => println!(
            "  topology: STALE — {} pixels ingested since the last run (their rows are null); run `desi-ard topology {}`",
            stale.len(),
            ard.display()
        ),
    }
    if !failed.is_empty() {
        println!("  {} failed pixels:", failed.len());
        for r in failed {
            println!("    {}: {}", r.pixel, r.error.as_deref().unwrap_or("?"));
        }
    }
    let partial: Vec<_> = records.iter().filter(|r| r.status == PixelStatus::Partial).collect();
    if !partial.is_empty() {
        println!(
            "  {} partial pixels (written without these inputs; retried when a file changes, or with ingest --retry-failed):",
            partial.len()
        );
        for r in partial {
            for b in &r.broken {
                println!("    {}: {}", r.pixel, ard_ingest::broken_text(b));
            }
        }
    }
    Ok(())
}

/// The layers the pixels were computed with (from their manifest records) and, per
/// layer, how many rows have values (its `<layer>_status` column says `ok`).
fn print_layers(ard: &Path, records: &[PixelRecord]) -> Result<()> {
    let done: Vec<&PixelRecord> = records.iter().filter(|r| r.status.published()).collect();
    let q = ard_query::ArdQuery::open(ard)?;
    let columns: Vec<String> = q.catalog_schema()?.fields().iter().map(|f| f.name().clone()).collect();
    println!("  layers computed ({} pixels done):", done.len());
    for layer in &ard_ingest::pipeline::LAYERS {
        let with: Vec<&str> = done.iter().filter_map(|r| r.layer_version(layer.name)).collect();
        let pixels = if layer.name == "core" { done.len() } else { with.len() };
        let status = format!("{}_status", layer.name);
        let rows = if pixels > 0 && columns.contains(&status) {
            let b = q.sql(&format!(
                "SELECT count(*) FILTER (WHERE {status} IN ('ok', 'ok_fibre_only', 'boundary')) AS ok, count(*) AS n FROM catalog"
            ))?;
            let count = |i: usize| -> i64 {
                use arrow_array::cast::AsArray;
                b.iter().find(|b| b.num_rows() > 0).map_or(0, |b| b.column(i).as_primitive::<arrow_array::types::Int64Type>().value(0))
            };
            format!(" — {} of {} rows with values", count(0), count(1))
        } else {
            String::new()
        };
        let label = with.first().map(|v| format!(" ({v})")).unwrap_or_default();
        match pixels {
            0 => println!("    {:<10} not computed: {}", layer.name, layer.title),
            n => println!("    {:<10} {n} pixels{label}{rows}: {}", layer.name, layer.title),
        }
    }
    Ok(())
}
