//! `desi-ard setup-templates`: the E-MILES template file from the ppxf 8.2.6 sdist.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Arguments of `desi-ard setuptemplates`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sdist's ppxf/miles_models folder.
    #[arg(long)]
    pub miles_dir: PathBuf,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `desi-ard setup-templates`.
pub fn run(args: Args) -> Result<()> {
    let Args { miles_dir, out } = args;
    let report = ssp::build_from_miles(&miles_dir, &out).with_context(|| format!("converting {}", miles_dir.display()))?;
    println!(
        "wrote {} SSPs ({} ages {:.4}–{:.2} Gyr × {} [M/H] {:+.2}…{:+.2}) to {}",
        report.n_ssp,
        report.ages.len(),
        report.ages[0],
        report.ages[report.ages.len() - 1],
        report.metals.len(),
        report.metals[0],
        report.metals[report.metals.len() - 1],
        out.display()
    );
    Ok(())
}
