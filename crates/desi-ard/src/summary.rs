//! `desi-ard read`: discovery, reading in parallel, and a per-file table.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use rayon::prelude::*;

pub fn read_and_summarise(input: &Path, survey: Option<String>, program: Option<String>, redshifts: Option<PathBuf>) -> Result<()> {
    let inputs = desi_io::layout::discover(input)?;
    if inputs.is_empty() {
        bail!("{}: no coadd-*.fits files found", input.display());
    }
    let options = desi_io::ReadOptions { survey, program };
    let results: Vec<_> = inputs
        .par_iter()
        .map(|inp| {
            let z = redshifts.clone().or_else(|| inp.redrock.clone());
            (inp, desi_io::read_spectra(&inp.coadd, z.as_deref(), &options))
        })
        .collect();
    println!("{:<44} {:>8} {:>8} {:>6} {:>6} {:>17} {:>8} {:>7}", "coadd", "survey", "program", "pixel", "nspec", "z range", "med S/N", "issues");
    let (mut failed, mut total, mut issues) = (0, 0, 0);
    for (inp, r) in results {
        let name = inp.coadd.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match r {
            Ok(read) => {
                let s = desi_io::summarise(&read);
                total += s.n_spectra;
                issues += read.issues.len();
                let zr = s.z_range.map(|(a, b)| format!("{a:.4}–{b:.4}")).unwrap_or_else(|| "no redshifts".into());
                let pix = read.batch.healpix.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
                println!(
                    "{:<44} {:>8} {:>8} {:>6} {:>6} {:>17} {:>8.2} {:>7}",
                    name, read.batch.survey, read.batch.program, pix, s.n_spectra, zr, s.median_snr, read.issues.len()
                );
                for i in &read.issues {
                    println!("    TARGETID {}: {}", i.targetid, i.problem);
                }
            }
            Err(e) => {
                failed += 1;
                println!("{name:<44} FAILED: {e}");
            }
        }
    }
    println!("{} files, {} spectra merged onto the brz grid (7781 pixels), {} object issues, {} files failed", inputs.len(), total, issues, failed);
    if failed > 0 {
        bail!("{failed} of {} files could not be read", inputs.len());
    }
    Ok(())
}

/// `desi-ard info`.
pub fn info(ard: &Path) -> Result<()> {
    let layout = ard_store::ArdLayout::new(ard);
    let props = std::fs::read_to_string(layout.catalog().join("hats.properties"))
        .map_err(|e| anyhow::anyhow!("{}: not an ARD (no catalog/desi_ard/hats.properties: {e}); run `desi-ard ingest` first", ard.display()))?;
    let get = |k: &str| props.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or("?").to_string();
    let records = ard_store::manifest::PixelRecord::all(&layout)?;
    let failed: Vec<_> = records.iter().filter(|r| r.status == ard_store::manifest::PixelStatus::Failed).collect();
    let schema = ard_store::catalog::read_parquet(&layout.catalog_leaf(records.iter().find(|r| r.status == ard_store::manifest::PixelStatus::Done).map(|r| r.pixel).unwrap_or(0)))
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
    println!("  objects (rows): {}   partitions: {} (HEALPix order {})", get("hats_nrows"), records.len() - failed.len(), get("hats_order"));
    println!("  created: {}   by: {}", get("hats_creation_date"), get("hats_builder"));
    println!("  cosmology: {}", get("desi_ard_cosmology"));
    if let Some(s) = schema {
        let names: Vec<String> = s.fields().iter().map(|f| f.name().clone()).collect();
        println!("  columns ({}): {}", names.len(), names.join(", "));
    }
    println!("  layers computed: core (identity, redshift, photometry, S/N)");
    for (name, p) in [("catalog", layout.collection()), ("spectra", ard.join("spectra")), ("exposures", layout.exposures()), ("manifest", layout.manifest_dir())] {
        println!("  {name:<10} {:>10.1} MB", du(&p) as f64 / 1e6);
    }
    if !failed.is_empty() {
        println!("  {} failed pixels:", failed.len());
        for r in failed {
            println!("    {}: {}", r.pixel, r.error.as_deref().unwrap_or("?"));
        }
    }
    Ok(())
}
