//! `desi-ard topology`: the cosmic-web layer over overlapping sub-volumes.

use std::path::PathBuf;

use anyhow::Result;

/// Arguments of `desi-ard topology`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ARD folder.
    pub ard: PathBuf,
    /// Number of overlapping cubic sub-volumes (same N, same result, however run).
    #[arg(long, default_value_t = 1)]
    pub subvolumes: usize,
    /// Compute only sub-volume i (0-based) and write its result beside the ARD (one
    /// cluster task each); `--merge` then writes the columns.
    #[arg(long, conflicts_with = "merge")]
    pub subvolume: Option<usize>,
    /// Stitch the sub-volume results into the catalogue (after every `--subvolume i`).
    #[arg(long)]
    pub merge: bool,
    #[command(flatten)]
    pub settings: TopologyFlags,
}

/// Runs `desi-ard topology`.
pub fn run(args: Args) -> Result<()> {
    let Args { ard, subvolumes, subvolume, merge, settings } = args;
    let opts = settings.options(subvolumes);
    let step = match (subvolume, merge) {
        (Some(i), _) => ard_ingest::topology::TopologyStep::One(i),
        (None, true) => ard_ingest::topology::TopologyStep::Merge,
        (None, false) => ard_ingest::topology::TopologyStep::All,
    };
    let r = ard_ingest::topology::run(&ard, &opts, step, &|m| eprintln!("topology: {m}"))?;
    if r.leaves > 0 {
        println!(
            "topology: {} galaxies in the density-defining population; {} rows in {} leaves written: void {}, sheet {}, filament {}, knot {}; {:.1} s",
            r.galaxies, r.rows, r.leaves, r.class_counts[0], r.class_counts[1], r.class_counts[2], r.class_counts[3], r.seconds
        );
    } else {
        println!("topology: sub-volume done in {:.1} s; run with --merge once every sub-volume is done", r.seconds);
    }
    Ok(())
}

/// The topology layer's settings (shared by `topology` and `cluster plan`, whose
/// sub-volume tasks must compute what one `topology` run would); defaults are the library's.
#[derive(Debug, Clone, clap::Args)]
pub struct TopologyFlags {
    /// Buffer around each sub-volume, comoving Mpc.
    #[arg(long, default_value_t = ard_ingest::topology::TopologyOptions::default().buffer_mpc)]
    pub buffer: f64,
    /// Persistence significance of the skeleton, Gaussian σ (DisPerSE's -nsig).
    #[arg(long, default_value_t = ard_ingest::topology::TopologyOptions::default().web.skeleton.n_sigma)]
    pub nsig: f64,
    /// Drop filaments whose saddle density is below this multiple of the mean density
    /// (DisPerSE's skelconv -trimBelow).
    #[arg(long, default_value_t = ard_ingest::topology::TopologyOptions::default().web.skeleton.trim_below)]
    pub trim: f64,
}

impl TopologyFlags {
    /// The run's settings with `subvolumes` sub-volumes.
    pub fn options(&self, subvolumes: usize) -> ard_ingest::topology::TopologyOptions {
        let mut opts = ard_ingest::topology::TopologyOptions { subvolumes, buffer_mpc: self.buffer, ..Default::default() };
        opts.web.skeleton.n_sigma = self.nsig;
        opts.web.skeleton.trim_below = self.trim;
        opts
    }
}
