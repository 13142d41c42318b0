//! `desi-ard sql`: read-only SQL over the catalogue and the exposures.

use std::path::PathBuf;

use anyhow::Result;

/// Arguments of `desi-ard sql`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ARD folder.
    pub ard: PathBuf,
    /// The query.
    pub query: String,
    /// Output format: table, csv, json, parquet or fits.
    #[arg(long, default_value = "table")]
    pub format: ard_query::output::Format,
    /// Write to this file instead of standard output (required for parquet, fits).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Runs `desi-ard sql`.
pub fn run(args: Args) -> Result<()> {
    let Args { ard, query, format, output } = args;
    let q = ard_query::ArdQuery::open(&ard)?;
    let rows = q.sql(&query)?;
    if let Some(text) = ard_query::output::write(&rows, format, output.as_deref())? {
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
    }
    if let Some(o) = output {
        let n: usize = rows.iter().map(|b| b.num_rows()).sum();
        eprintln!("wrote {n} rows to {}", o.display());
    }
    Ok(())
}
