//! `desi-ard workflow`: the original design's science workflows, each a table and a figure.

use std::path::PathBuf;

use anyhow::Result;

/// The workflows.
#[derive(Debug, clap::Subcommand)]
pub enum Workflow {
    /// Start from one Green Pea, retrieve its nearest neighbours in an embedding column,
    /// count the Green-Pea-like ones (with --truth) and plot their spectra.
    GreenPea {
        /// The ARD folder.
        ard: PathBuf,
        /// The Green Pea to start from (default with --truth: the first simulated one).
        #[arg(long)]
        targetid: Option<i64>,
        /// Neighbours to retrieve.
        #[arg(long, default_value_t = 100)]
        k: usize,
        /// Embedding column.
        #[arg(long, default_value = "emb_pca")]
        embedding: String,
        /// The simulator's truth table (OUT/truth/truth.parquet), to say which are Green Peas.
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Output folder for the table (CSV) and the figure (PNG).
        #[arg(long, default_value = "workflow-out")]
        out: PathBuf,
    },
    /// Median specific SFR and quiescent fraction against stellar mass per cosmic-web
    /// class (SELECT logm_p50, logsfr_p50, web_class FROM catalog), voids vs filaments.
    Quenching {
        /// The ARD folder.
        ard: PathBuf,
        /// On a simulated sample without the SED/topology columns: use the simulator's
        /// truth (OUT/truth/truth.parquet) for them, labelled as such.
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Output folder for the table (CSV) and the figure (PNG).
        #[arg(long, default_value = "workflow-out")]
        out: PathBuf,
    },
}

/// Runs `desi-ard workflow ...`.
pub fn run(name: Workflow) -> Result<()> {
    match name {
        Workflow::GreenPea { ard, targetid, k, embedding, truth, out } => {
            let q = ard_query::ArdQuery::open(&ard)?;
            let opts = ard_query::workflow::GreenPeaOptions { targetid, k, column: embedding, truth, out_dir: out, n_plot: 5 };
            let r = ard_query::workflow::green_pea_hunt(&q, &opts)?;
            println!("Green Pea hunt from TARGETID {}: {} neighbours in {}", r.query, r.n_neighbours, opts.column);
            if let (Some(n), Some(p)) = (r.n_green_pea, r.precision_at_20) {
                println!("  {n} of {} are Green-Pea-like (simulator truth); precision@20 = {p:.2}", r.n_neighbours);
            }
            println!("  table:  {}\n  figure: {}", r.table.display(), r.figure.display());
            Ok(())
        }
        Workflow::Quenching { ard, truth, out } => {
            let q = ard_query::ArdQuery::open(&ard)?;
            let r = ard_query::workflow::environmental_quenching(&q, truth.as_deref(), &out)?;
            println!("environmental quenching: {} galaxies in {} bins; source: {}", r.n_galaxies, r.bins.len(), r.source);
            println!("  web class   log M*       n   median log sSFR   quiescent fraction");
            for b in &r.bins {
                println!(
                    "  {:<9} {:5.2}-{:5.2} {:5}   {:7.3} ± {:.3}     {:.3} ± {:.3}",
                    b.web_class.name(),
                    b.logm_lo,
                    b.logm_hi,
                    b.n,
                    b.median_log_ssfr,
                    b.median_err,
                    b.quiescent_fraction,
                    b.quiescent_err
                );
            }
            println!("  table:  {}\n  figure: {}", r.table.display(), r.figure.display());
            Ok(())
        }
    }
}
