//! `desi-ard demo`: the whole system on the built-in sample — simulate (if absent),
//! ingest, topology, queries, a plot. The README's first command.

use std::path::{Path, PathBuf};

use anyhow::Result;

/// Arguments of `desi-ard demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for the sample and its ARD.
    #[arg(long, default_value = "demo-out")]
    pub dir: PathBuf,
    /// Run every layer on every object (later layers may sample a subset by default).
    #[arg(long)]
    pub full: bool,
    /// E-MILES template file (default: the set-up cache).
    #[arg(long)]
    pub templates: Option<PathBuf>,
}

/// Runs `desi-ard demo`.
pub fn run(args: Args) -> Result<()> {
    let Args { dir, full, templates } = args;
    let (dir, templates) = (dir.as_path(), templates.as_deref());
    let t0 = std::time::Instant::now();
    let raw = dir.join("raw");
    let ard = dir.join("ard");
    if !raw.join("truth/truth.parquet").exists() {
        println!("[1/4] simulating the built-in sample into {} (E-MILES galaxies in a mock cosmic web)", raw.display());
        let lib = ssp::SspLibrary::locate_and_load(templates)?;
        let s = super::simulate::simulate_with_progress(&lib, &desi_sim::SimConfig::default(), &raw, false)?;
        println!(
            "      {} galaxies ({} Green-Pea-like), {} spectra in {} coadds",
            s.n_targets,
            s.n_green_peas,
            s.n_spectra,
            s.coadds.len()
        );
    } else {
        println!("[1/4] using the sample already in {}", raw.display());
    }
    let _ = full; // every layer that exists runs on every object
    println!("[2/4] ingesting into {} (layers: core, AI (emb_pca), physics; then topology)", ard.display());
    let settings = ard_ingest::pipeline::Settings { templates: templates.map(Path::to_path_buf), ..Default::default() };
    let mut opts = ard_ingest::IngestOptions::new(raw.clone(), ard.clone());
    opts.quiet = false;
    opts.stages = super::ingest::pipeline_stages(&settings, &opts, false, false)?;
    let r = ard_ingest::ingest(&opts)?;
    println!(
        "      {} pixels processed, {} unchanged, {} failed, {} rows in {:.1} s",
        r.pixels_done,
        r.pixels_skipped,
        r.failed.len(),
        r.rows,
        r.seconds
    );
    let f = ard_ingest::finalize(&ard)?;
    println!("      HATS catalogue: {} rows in {} partitions; margin cache {} partitions", f.rows, f.pixels, f.margin_pixels);
    if r.pixels_done > 0 || !ard_ingest::topology::stale_pixels(&ard)?.is_empty() {
        let t = ard_ingest::topology::run(
            &ard,
            &ard_ingest::topology::TopologyOptions::default(),
            ard_ingest::topology::TopologyStep::All,
            &|m| println!("      topology: {m}"),
        )?;
        println!(
            "      topology: {} galaxies: void {}, sheet {}, filament {}, knot {} in {:.1} s",
            t.galaxies, t.class_counts[0], t.class_counts[1], t.class_counts[2], t.class_counts[3], t.seconds
        );
    }
    println!("[3/4] example queries (desi-ard sql {} \"...\")", ard.display());
    let q = ard_query::ArdQuery::open(&ard)?;
    for (what, sql) in [
        ("objects per program", "SELECT survey, program, count(*) AS n, round(avg(z), 4) AS mean_z FROM catalog GROUP BY survey, program ORDER BY program"),
        ("bright objects near the field centre", "SELECT targetid, round(z, 5) AS z, round(flux_r, 2) AS flux_r, round(snr_r, 2) AS snr_r FROM cone_search(150.1, 2.2, 0.3) WHERE zwarn = 0 ORDER BY flux_r DESC LIMIT 5"),
        ("targets observed in both programs", "SELECT targetid, survey, program, zcat_primary, round(tsnr2_lrg, 1) AS tsnr2_lrg FROM catalog WHERE zcat_nspec > 1 ORDER BY targetid, program LIMIT 6"),
        ("cosmic-web environment", "SELECT web_class, count(*) AS n, round(median(dist_filament), 2) AS median_dist_filament_mpc, round(median(sigma_5), 3) AS median_sigma_5 FROM catalog WHERE topology_status = 'ok' GROUP BY web_class ORDER BY web_class"),
    ] {
        let t = std::time::Instant::now();
        let rows = q.sql(sql)?;
        println!("      -- {what}: {sql}");
        println!("{}", ard_query::output::to_table(&rows)?);
        println!("      ({:.0} ms)", t.elapsed().as_secs_f64() * 1e3);
    }
    println!("[4/4] spectrum plot");
    let rows = q.sql("SELECT targetid FROM catalog WHERE zcat_primary AND zwarn = 0 ORDER BY snr_r DESC LIMIT 1")?;
    let tid = rows
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| arrow_array::cast::AsArray::as_primitive::<arrow_array::types::Int64Type>(b.column(0)).value(0));
    if let Some(tid) = tid {
        if let Some(s) = q.spectrum(tid, None, None)? {
            let png = dir.join(format!("spectrum-{tid}.png"));
            ard_query::plot::plot_spectrum(
                &png,
                &format!("TARGETID {tid}  {} {}  z = {:.4}", s.survey, s.program, s.z),
                &s.wavelength,
                &s.flux,
                &s.ivar,
                s.array(ard_core::names::MODEL),
                s.z,
                3,
            )?;
            println!("      wrote {} (desi-ard spectrum {} {tid} --png ...)", png.display(), ard.display());
        }
    }
    println!("demo finished in {:.0} s. Try: desi-ard info {}", t0.elapsed().as_secs_f64(), ard.display());
    Ok(())
}
