//! `desi-ard schema`: the catalogue's column documentation (docs/schema.md), generated
//! by `ard_ingest::pipeline::schema_markdown`.

use anyhow::Result;

/// Runs `desi-ard schema`.
pub fn run() -> Result<()> {
    print!("{}", ard_ingest::pipeline::schema_markdown());
    Ok(())
}
