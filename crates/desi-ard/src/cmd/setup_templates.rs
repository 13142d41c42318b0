//! `desi-ard setup-templates`: a project library file from the population models shipped on
//! PyPI — E-MILES from the ppxf 8.2.6 sdist (the fits' templates) or BC03 from the
//! sdss-mangadap 4.5.0 wheel (the independent mock's).

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Arguments of `desi-ard setup-templates`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["miles_dir", "bc03_dir"])))]
pub struct Args {
    /// The ppxf sdist's ppxf/miles_models folder (E-MILES).
    #[arg(long)]
    pub miles_dir: Option<PathBuf>,
    /// The sdss-mangadap wheel's mangadap/data/spectral_templates/bc03_mpajhu folder (BC03).
    #[arg(long)]
    pub bc03_dir: Option<PathBuf>,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `desi-ard setup-templates`.
pub fn run(args: Args) -> Result<()> {
    let Args { miles_dir, bc03_dir, out } = args;
    let (dir, report) = match (miles_dir, bc03_dir) {
        (Some(dir), _) => {
            let r = ssp::build_from_miles(&dir, &out).with_context(|| format!("converting {}", dir.display()))?;
            (dir, r)
        }
        (None, Some(dir)) => {
            let r = ssp::bc03::build_from_bc03(&dir, &out).with_context(|| format!("converting {}", dir.display()))?;
            (dir, r)
        }
        (None, None) => anyhow::bail!("give --miles-dir or --bc03-dir"),
    };
    println!(
        "wrote {} SSPs ({} ages {:.4}–{:.2} Gyr × {} [M/H] {:+.2}…{:+.2}) from {} to {}",
        report.n_ssp,
        report.ages.len(),
        report.ages[0],
        report.ages[report.ages.len() - 1],
        report.metals.len(),
        report.metals[0],
        report.metals[report.metals.len() - 1],
        dir.display(),
        out.display()
    );
    Ok(())
}
