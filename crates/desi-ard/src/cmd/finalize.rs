//! `desi-ard finalize`: HATS metadata, margin cache and exposures table from the done pixels.

use std::path::PathBuf;

use anyhow::Result;

/// Arguments of `desi-ard finalize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ARD folder.
    pub ard: PathBuf,
}

/// Runs `desi-ard finalize`.
pub fn run(args: Args) -> Result<()> {
    let f = ard_ingest::finalize(&args.ard)?;
    println!(
        "finalize: {} rows in {} partitions, margin cache {} partitions, {} exposure rows{}",
        f.rows,
        f.pixels,
        f.margin_pixels,
        f.exposure_rows,
        if f.withdrawn > 0 { format!(", {} pixels withdrawn (no done manifest record)", f.withdrawn) } else { String::new() }
    );
    Ok(())
}
