//! `desi-ard similar`: exact k-nearest neighbours in an embedding column.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Arguments of `desi-ard similar`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ARD folder.
    pub ard: PathBuf,
    /// TARGETID to search from (its zcat_primary coadd unless --survey/--program).
    #[arg(long, required_unless_present = "targetids", conflicts_with = "targetids")]
    pub targetid: Option<i64>,
    /// A file of TARGETIDs, one per line (# comments), searched in one batch.
    #[arg(long)]
    pub targetids: Option<PathBuf>,
    /// Survey of the query coadd.
    #[arg(long)]
    pub survey: Option<String>,
    /// Program of the query coadd.
    #[arg(long)]
    pub program: Option<String>,
    /// Neighbours per query.
    #[arg(long, default_value_t = 100)]
    pub k: usize,
    /// Embedding column: emb_pca (always there), emb_specformer, emb_astroclip.
    #[arg(long, default_value = "emb_pca")]
    pub embedding: String,
    /// Search only catalogue rows matching this SQL predicate, e.g. "z < 0.3 AND zwarn = 0".
    #[arg(long = "where", value_name = "PREDICATE")]
    pub filter: Option<String>,
    /// Catalogue columns to show with each neighbour.
    #[arg(long, value_delimiter = ',', default_value = "z,zwarn,spectype,flux_r")]
    pub columns: Vec<String>,
    /// Leave each query object out of its own result.
    #[arg(long)]
    pub exclude_self: bool,
    /// Output format: table, csv, json, parquet or fits.
    #[arg(long, default_value = "table")]
    pub format: ard_query::output::Format,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Draw the (first) query's spectrum and its nearest neighbours', rest frame, normalised.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Neighbours drawn with --plot.
    #[arg(long, default_value_t = 5)]
    pub plot_n: usize,
}

/// Runs `desi-ard similar`.
pub fn run(a: Args) -> Result<()> {
    use ard_query::similar::{SimilarQuery, SimilarRequest};
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    let t0 = std::time::Instant::now();
    let q = ard_query::ArdQuery::open(&a.ard)?;
    let queries: Vec<SimilarQuery> = match (&a.targetid, &a.targetids) {
        (Some(t), _) => vec![SimilarQuery { targetid: *t, survey: a.survey.clone(), program: a.program.clone() }],
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let mut v = Vec::new();
            for (n, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let t: i64 = line.parse().with_context(|| format!("{}:{}: {line:?} is not a TARGETID", file.display(), n + 1))?;
                v.push(SimilarQuery { targetid: t, survey: a.survey.clone(), program: a.program.clone() });
            }
            if v.is_empty() {
                bail!("{}: no TARGETIDs in the file", file.display());
            }
            v
        }
        (None, None) => bail!("give --targetid ID or --targetids FILE"),
    };
    let ix = q.embedding_index(&a.embedding)?;
    let loaded = t0.elapsed();
    let have = ard_query::workflow::catalog_columns(&q)?;
    for c in &a.columns {
        if !have.iter().any(|h| h == c) {
            bail!("--columns: the catalogue has no column {c:?}");
        }
    }
    let req = SimilarRequest { column: a.embedding.clone(), queries, k: a.k, filter: a.filter.clone(), exclude_self: a.exclude_self };
    let t1 = std::time::Instant::now();
    let (batches, res) = q.similar_table(&req, &a.columns)?;
    let searched = t1.elapsed();
    if res.rows_searched == 0 {
        eprintln!("no catalogue row with a {} embedding matches --where {:?}", a.embedding, a.filter.as_deref().unwrap_or(""));
    }
    if let Some(text) = ard_query::output::write(&batches, a.format, a.output.as_deref())? {
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    }
    eprintln!(
        "{} queries over {} rows of {} ({}-d Float16; {} null), kernel {}: loaded in {:.0} ms, searched and joined in {:.0} ms",
        res.per_query.len(),
        res.rows_searched,
        a.embedding,
        ix.dim,
        res.rows_null,
        ard_search::kernel::simd_in_use(),
        loaded.as_secs_f64() * 1e3,
        searched.as_secs_f64() * 1e3
    );
    if let Some(png) = &a.plot {
        let (qkey, list) = &res.per_query[0];
        let mut keys = vec![(qkey.clone(), 1.0f32)];
        keys.extend(list.iter().filter(|(k, _)| k != qkey).take(a.plot_n).cloned());
        let mut spectra = Vec::new();
        for (k, s) in keys {
            if let Some(sp) = q.spectrum(k.targetid, Some(&k.survey), Some(&k.program))? {
                spectra.push((k, s, sp));
            }
        }
        let stack: Vec<ard_query::plot::StackedSpectrum> = spectra
            .iter()
            .enumerate()
            .map(|(i, (k, s, sp))| ard_query::plot::StackedSpectrum {
                label: if i == 0 {
                    format!("query {} z={:.3}", k.targetid, sp.z)
                } else {
                    format!("#{i} {} z={:.3} cos={s:.3}", k.targetid, sp.z)
                },
                wave: &sp.wavelength,
                flux: &sp.flux,
                ivar: &sp.ivar,
                z: sp.z,
            })
            .collect();
        ard_query::plot::plot_stack(png, &format!("TARGETID {}: nearest neighbours in {}", qkey.targetid, a.embedding), &stack, 8)?;
        eprintln!("plot: {}", png.display());
    }
    Ok(())
}
