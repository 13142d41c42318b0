//! `desi-ard setup-templates`: a project library file from the population models shipped on
//! PyPI — E-MILES from the ppxf 8.2.6 sdist (the fits' templates) or BC03 from the
//! sdss-mangadap 4.5.0 wheel, or MaStar from the same wheel (the independent mock's).

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Arguments of `desi-ard setup-templates`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["miles_dir", "bc03_dir", "mastar_dir"])))]
pub struct Args {
    /// The ppxf sdist's ppxf/miles_models folder (E-MILES).
    #[arg(long)]
    pub miles_dir: Option<PathBuf>,
    /// The sdss-mangadap wheel's mangadap/data/spectral_templates/bc03_mpajhu folder (BC03).
    #[arg(long)]
    pub bc03_dir: Option<PathBuf>,
    /// The sdss-mangadap wheel's mangadap/data/spectral_templates/mastar_ssp_v1.0 folder
    /// (MaStar; its luminosities are scaled on the converted BC03 library, so that comes
    /// first).
    #[arg(long)]
    pub mastar_dir: Option<PathBuf>,
    /// With --mastar-dir: the converted BC03 library file (default: the set-up cache).
    #[arg(long)]
    pub bc03: Option<PathBuf>,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `desi-ard setup-templates`.
pub fn run(args: Args) -> Result<()> {
    let Args { miles_dir, bc03_dir, mastar_dir, bc03, out } = args;
    let (dir, report) = match (miles_dir, bc03_dir, mastar_dir) {
        (Some(dir), _, _) => {
            let r = ssp::build_from_miles(&dir, &out).with_context(|| format!("converting {}", dir.display()))?;
            (dir, r)
        }
        (None, Some(dir), _) => {
            let r = ssp::bc03::build_from_bc03(&dir, &out).with_context(|| format!("converting {}", dir.display()))?;
            (dir, r)
        }
        (None, None, Some(dir)) => {
            let scale = ssp::SspLibrary::locate_library(ssp::Library::Bc03, bc03.as_deref())
                .context("MaStar's luminosities are scaled on BC03: convert BC03 first (--bc03-dir) or give --bc03")?;
            let r = ssp::mastar::build_from_mastar(&dir, &scale, &out).with_context(|| format!("converting {}", dir.display()))?;
            (dir, r)
        }
        (None, None, None) => anyhow::bail!("give --miles-dir, --bc03-dir or --mastar-dir"),
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
