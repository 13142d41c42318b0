//! `desi-ard read`: discovery, reading in parallel, and a per-file table.

use std::path::PathBuf;

use anyhow::{bail, Result};
use rayon::prelude::*;

/// Arguments of `desi-ard read`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A production root (with healpix/), any folder of coadds, or a coadd file.
    pub input: PathBuf,
    /// Survey, when the files do not say (tile-based coadds).
    #[arg(long)]
    pub survey: Option<String>,
    /// Program, when the files do not say (tile-based coadds).
    #[arg(long)]
    pub program: Option<String>,
    /// A redshift file to use instead of each coadd's redrock partner (a DR1
    /// zpix-<survey>-<program>.fits zcatalog, say).
    #[arg(long)]
    pub redshifts: Option<PathBuf>,
}

/// Runs `desi-ard read`.
pub fn run(args: Args) -> Result<()> {
    let Args { input, survey, program, redshifts } = args;
    let input = input.as_path();
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
    println!(
        "{:<44} {:>8} {:>8} {:>6} {:>6} {:>17} {:>8} {:>7}",
        "coadd", "survey", "program", "pixel", "nspec", "z range", "med S/N", "issues"
    );
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
                    name,
                    read.batch.survey,
                    read.batch.program,
                    pix,
                    s.n_spectra,
                    zr,
                    s.median_snr,
                    read.issues.len()
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
    println!(
        "{} files, {} spectra merged onto the brz grid (7781 pixels), {} object issues, {} files failed",
        inputs.len(),
        total,
        issues,
        failed
    );
    if failed > 0 {
        bail!("{failed} of {} files could not be read", inputs.len());
    }
    Ok(())
}
