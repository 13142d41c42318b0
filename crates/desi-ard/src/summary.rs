//! `desi-ard read`: discovery, reading in parallel, and a per-file table.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

pub fn read_and_summarise(input: &Path, survey: Option<String>, program: Option<String>, redshifts: Option<PathBuf>) -> Result<()> {
    let inputs = desi_io::layout::discover(input)?;
    if inputs.is_empty() {
        bail!("{}: no coadd-*.fits files found", input.display());
    }
    let options = desi_io::ReadOptions { survey, program };
    let results: Vec<_> = inputs
        .par_iter()
        .map(|inp| {
            let z = redshifts.clone().or_else(|| inp.redrock.clone());
            (inp, desi_io::read_spectra(&inp.coadd, z.as_deref(), &options))
        })
        .collect();
    println!(
        "{:<44} {:>8} {:>8} {:>6} {:>6} {:>17} {:>8} {:>7}",
        "coadd", "survey", "program", "pixel", "nspec", "z range", "med S/N", "issues"
    );
    let (mut failed, mut total, mut issues) = (0, 0, 0);
    for (inp, r) in results {
        let name = inp.coadd.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match r {
            Ok(read) => {
                let s = desi_io::summarise(&read);
                total += s.n_spectra;
                issues += read.issues.len();
                let zr = s.z_range.map(|(a, b)| format!("{a:.4}–{b:.4}")).unwrap_or_else(|| "no redshifts".into());
                let pix = read.batch.healpix.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
                println!(
                    "{:<44} {:>8} {:>8} {:>6} {:>6} {:>17} {:>8.2} {:>7}",
                    name,
                    read.batch.survey,
                    read.batch.program,
                    pix,
                    s.n_spectra,
                    zr,
                    s.median_snr,
                    read.issues.len()
                );
                for i in &read.issues {
                    println!("    TARGETID {}: {}", i.targetid, i.problem);
                }
            }
            Err(e) => {
                failed += 1;
                println!("{name:<44} FAILED: {e}");
            }
        }
    }
    println!(
        "{} files, {} spectra merged onto the brz grid (7781 pixels), {} object issues, {} files failed",
        inputs.len(),
        total,
        issues,
        failed
    );
    if failed > 0 {
        bail!("{failed} of {} files could not be read", inputs.len());
    }
    Ok(())
}

/// `desi-ard info`.
pub fn info(ard: &Path) -> Result<()> {
    let layout = ard_store::ArdLayout::new(ard);
    let props = std::fs::read_to_string(layout.catalog().join("hats.properties")).map_err(|e| {
        anyhow::anyhow!("{}: not an ARD (no catalog/desi_ard/hats.properties: {e}); run `desi-ard ingest` first", ard.display())
    })?;
    let get = |k: &str| props.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or("?").to_string();
    let records = ard_store::manifest::PixelRecord::all(&layout)?;
    let failed: Vec<_> = records.iter().filter(|r| r.status == ard_store::manifest::PixelStatus::Failed).collect();
    let schema = ard_store::catalog::read_parquet(
        &layout.catalog_leaf(records.iter().find(|r| r.status == ard_store::manifest::PixelStatus::Done).map(|r| r.pixel).unwrap_or(0)),
    )
    .map(|b| b.schema())
    .ok();
    let du = |p: &Path| -> u64 {
        let mut total = 0;
        let mut stack = vec![p.to_path_buf()];
        while let Some(d) = stack.pop() {
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    let q = e.path();
                    if q.is_dir() {
                        stack.push(q);
                    } else {
                        total += e.metadata().map(|m| m.len()).unwrap_or(0);
                    }
                }
            }
        }
        total
    };
    println!("ARD {}", ard.display());
    println!(
        "  objects (rows): {}   partitions: {} (HEALPix order {})",
        get("hats_nrows"),
        records.len() - failed.len(),
        get("hats_order")
    );
    println!("  created: {}   by: {}", get("hats_creation_date"), get("hats_builder"));
    println!("  cosmology: {}", get("desi_ard_cosmology"));
    if let Some(s) = schema {
        let names: Vec<String> = s.fields().iter().map(|f| f.name().clone()).collect();
        println!("  columns ({}): {}", names.len(), names.join(", "));
    }
    println!("  layers computed: core (identity, redshift, photometry, S/N)");
    for (name, p) in [
        ("catalog", layout.collection()),
        ("spectra", ard.join("spectra")),
        ("exposures", layout.exposures()),
        ("manifest", layout.manifest_dir()),
    ] {
        println!("  {name:<10} {:>10.1} MB", du(&p) as f64 / 1e6);
    }
    let topo = ard_ingest::topology::TopologyState::read(ard)?;
    match (&topo.last_run, ard_ingest::topology::stale_pixels(ard)?) {
        (None, _) => println!("  topology: not computed (run `desi-ard topology {}`)", ard.display()),
        (Some(r), stale) if stale.is_empty() => {
            println!("  topology: current ({} galaxies, {} sub-volumes, {} sigma)", r.galaxies, r.subvolumes, r.n_sigma)
        }
        (Some(_), stale) => println!(
            "  topology: STALE — {} pixels ingested since the last run (their rows are null); run `desi-ard topology {}`",
            stale.len(),
            ard.display()
        ),
    }
    if !failed.is_empty() {
        println!("  {} failed pixels:", failed.len());
        for r in failed {
            println!("    {}: {}", r.pixel, r.error.as_deref().unwrap_or("?"));
        }
    }
    Ok(())
}

/// Writes one spectrum as CSV (wavelength, flux, ivar, mask) or a FITS table.
pub fn write_spectrum(s: &ard_store::spectra::Spectrum, format: &str, out: Option<&Path>) -> Result<()> {
    match format {
        "csv" => {
            let mut text = String::from("wavelength,flux,ivar,mask\n");
            for i in 0..s.wavelength.len() {
                text.push_str(&format!("{:.1},{},{},{}\n", s.wavelength[i], s.flux[i], s.ivar[i], s.mask[i]));
            }
            match out {
                Some(p) => std::fs::write(p, text)?,
                None => print!("{text}"),
            }
        }
        "fits" => {
            let Some(p) = out else { bail!("--format fits needs --output FILE") };
            use std::sync::Arc;
            let f = |name: &str, dt: arrow_schema::DataType, unit: &str| {
                arrow_schema::Field::new(name, dt, false).with_metadata([("unit".to_string(), unit.to_string())].into())
            };
            let schema = Arc::new(arrow_schema::Schema::new(vec![
                f("WAVELENGTH", arrow_schema::DataType::Float64, "Angstrom"),
                f("FLUX", arrow_schema::DataType::Float32, "10**-17 erg/(s cm2 Angstrom)"),
                f("IVAR", arrow_schema::DataType::Float32, "10**+34 (s2 cm4 Angstrom2) / erg2"),
                f("MASK", arrow_schema::DataType::Int32, ""),
            ]));
            let batch = arrow_array::RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(arrow_array::Float64Array::from(s.wavelength.clone())),
                    Arc::new(arrow_array::Float32Array::from(s.flux.clone())),
                    Arc::new(arrow_array::Float32Array::from(s.ivar.clone())),
                    Arc::new(arrow_array::Int32Array::from(s.mask.clone())),
                ],
            )?;
            let mut fits = ard_fits::FitsFile::create(p)?;
            fits.write_primary(&[
                ard_fits::Key::i64("TARGETID", s.targetid, ""),
                ard_fits::Key::str("SURVEY", &s.survey, ""),
                ard_fits::Key::str("PROGRAM", &s.program, ""),
                ard_fits::Key::f64("Z", s.z, "redshift"),
            ])?;
            fits.write_table("SPECTRUM", &batch, &[])?;
            fits.close()?;
            eprintln!("wrote {}", p.display());
        }
        other => bail!("unknown spectrum format {other:?}: use csv or fits"),
    }
    Ok(())
}

/// `docs/schema.md`, generated from the column specs.
pub fn schema_markdown() -> String {
    let mut s = String::from(
        "# The ARD catalogue: columns\n\n\
         Generated by `desi-ard schema` from the column specs in the code (a test checks this file is current).\n\
         One row per coadd: the key is (targetid, survey, program). Table `catalog` in `desi-ard sql`;\n\
         HATS catalogue `catalog/desi_ard` on disk.\n\n\
         | column | type | unit | description | code |\n|---|---|---|---|---|\n",
    );
    s.push_str("| `_healpix_29` | Int64 |  | order-29 NESTED HEALPix index of (target_ra, target_dec): the HATS spatial key, rows sorted by it | `crates/ard-store/src/catalog.rs` |\n");
    let layers = [
        (ard_ingest::columns::core_specs(), "crates/ard-ingest/src/columns.rs"),
        (ard_ai::AstroclipStage::column_specs(), "crates/ard-ai/src/stage.rs"),
        (ard_ai::PcaStage::column_specs(), "crates/ard-ai/src/stage.rs"),
        (ard_physics::PhysicsStage::column_specs(), "crates/ard-physics/src/stage.rs"),
        (ard_sed::SedStage::column_specs(), "crates/ard-sed/src/stage.rs"),
        (ard_ingest::topology::column_specs(), "crates/ard-ingest/src/topology.rs"),
    ];
    for (specs, code) in layers {
        for c in specs {
            s.push_str(&format!("| `{}` | {} | {} | {} | `{code}` |\n", c.name, c.data_type, c.unit, c.description.replace('|', "\\|")));
        }
    }
    s.push_str(
        "\n## Exposures (`exposures`)\n\nEXP_FIBERMAP rows, joinable on (targetid, survey, program): `_healpix_29`, targetid, survey, program, target_ra, target_dec, then ",
    );
    let names: Vec<String> = ard_ingest::columns::EXPOSURE_COLUMNS.iter().map(|c| format!("`{}`", c.0.to_lowercase())).collect();
    s.push_str(&names.join(", "));
    s.push_str(
        " (EXP_FIBERMAP columns of the same names; null where a production lacks them). Code: `crates/ard-ingest/src/columns.rs`.\n",
    );
    s.push_str(
        "\n## Spectra (`spectra/Norder=6/Dir=D/Npix=P.h5`)\n\nDatasets `targetid`, `survey`, `program`, `z`, `wavelength` (7781, Å vacuum), \
         `flux`, `ivar` (float32, N × 7781, 1e-17 erg/s/cm²/Å), `mask` (int32); sorted by (targetid, survey, program). Code: `crates/ard-store/src/spectra.rs`.\n",
    );
    s
}

/// `desi-ard demo`.
pub fn demo(dir: &Path, full: bool, templates: Option<&Path>) -> Result<()> {
    let t0 = std::time::Instant::now();
    let raw = dir.join("raw");
    let ard = dir.join("ard");
    if !raw.join("truth/truth.parquet").exists() {
        println!("[1/4] simulating the built-in sample into {} (E-MILES galaxies in a mock cosmic web)", raw.display());
        let lib = ssp::SspLibrary::locate_and_load(templates)?;
        let s = simulate_with_progress(&lib, &desi_sim::SimConfig::default(), &raw, false)?;
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
    let opts = ard_ingest::IngestOptions {
        raw_root: raw.clone(),
        ard: ard.clone(),
        workers: 0,
        shard: None,
        balance: false,
        survey: None,
        program: None,
        stages: stages(true, templates, None)?,
        quiet: false,
        scratch: None,
    };
    let mut opts = opts;
    add_pca_stage(&mut opts, false, false)?;
    opts.stages.push(std::sync::Arc::new(ard_ingest::topology::TopologyColumns));
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
                s.z,
                3,
            )?;
            println!("      wrote {} (desi-ard spectrum {} {tid} --png ...)", png.display(), ard.display());
        }
    }
    println!("demo finished in {:.0} s. Try: desi-ard info {}", t0.elapsed().as_secs_f64(), ard.display());
    Ok(())
}

/// Runs the simulator with a progress bar over the pixel files (hidden when `quiet`).
pub fn simulate_with_progress(lib: &ssp::SspLibrary, cfg: &desi_sim::SimConfig, out: &Path, quiet: bool) -> Result<desi_sim::SimSummary> {
    let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} simulating [{bar:30}] {pos}/{len} pixel files  {elapsed} (ETA {eta})")?
            .progress_chars("=> "),
    );
    let summary = desi_sim::simulate(lib, cfg, out, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    Ok(summary)
}

/// The per-object layers ingest runs: the physics layer unless disabled, and the
/// AstroCLIP columns (null unless `astroclip` names weights).
pub fn stages(physics: bool, templates: Option<&Path>, astroclip: Option<&Path>) -> Result<Vec<ard_core::StageRef>> {
    let mut out: Vec<ard_core::StageRef> = Vec::new();
    let encoder = match astroclip {
        Some(p) => {
            let e = ard_ai::load_encoder(p, None)?;
            eprintln!("AstroCLIP encoder from {} on {}", p.display(), e.placement());
            Some(e)
        }
        None => None,
    };
    let source = astroclip.map(|p| p.display().to_string()).unwrap_or_default();
    out.push(std::sync::Arc::new(ard_ai::AstroclipStage::new(encoder, &source)));
    if physics {
        let lib = ssp::SspLibrary::locate_and_load(templates)?;
        out.push(std::sync::Arc::new(ard_physics::PhysicsStage::new(std::sync::Arc::new(lib), ard_physics::FitConfig::default())));
    }
    Ok(out)
}

/// Adds the emb_pca stage to an ingest, learning the ARD's basis first when it has
/// none, and says which basis is used.
pub fn add_pca_stage(opts: &mut ard_ingest::IngestOptions, refit: bool, sharded: bool) -> Result<()> {
    let path = ard_store::layout::ArdLayout::new(&opts.ard).models().join(ard_ai::pca::MODEL_FILE);
    if !path.exists() || refit {
        if sharded {
            eprintln!(
                "note: {} has no PCA basis yet; this shard learns it (every shard learns the same one). \
                 Run `desi-ard ingest --fit-models-only` once first to save the work.",
                opts.ard.display()
            );
        }
        if !opts.quiet {
            eprintln!("learning the emb_pca eigenspectra from a fixed subset of the input ...");
        }
    }
    match ard_ingest::models::add_pca_stage(opts, refit)? {
        Some(r) if r.fitted => println!(
            "models: learned the emb_pca basis from {} spectra of {} pixels in {:.1} s -> {}",
            r.n_train,
            r.pixels_read,
            r.seconds,
            r.path.display()
        ),
        Some(r) => tracing::info!("models: using {} ({} training spectra)", r.path.display(), r.n_train),
        None => println!("models: no spectrum to learn the emb_pca basis from; emb_pca is null (pca_status = no_model)"),
    }
    Ok(())
}

/// A simulated validation sample: simulates it (into `work` or a temporary folder), runs
/// one layer over it with a progress bar, and prints the command line with its time.
pub struct ValidationRun {
    /// Galaxies to simulate.
    pub objects: usize,
    /// Simulation seed.
    pub seed: u64,
    /// Dark-time effective exposure, s.
    pub exptime_dark: f64,
    /// Bright-time effective exposure, s.
    pub exptime_bright: f64,
}

impl ValidationRun {
    fn run<T>(
        &self,
        layer: &str,
        work: Option<&Path>,
        templates: Option<&Path>,
        f: impl FnOnce(&ssp::SspLibrary, &desi_sim::SimConfig, &Path, &(dyn Fn(usize, usize) + Sync)) -> Result<T>,
    ) -> Result<T> {
        let lib = ssp::SspLibrary::locate_and_load(templates)?;
        let tmp;
        let dir = match work {
            Some(w) => w.to_path_buf(),
            None => {
                tmp = tempfile::tempdir()?;
                tmp.path().to_path_buf()
            }
        };
        let (objects, seed, exptime_dark, exptime_bright) = (self.objects, self.seed, self.exptime_dark, self.exptime_bright);
        let sim = desi_sim::SimConfig { seed, n_objects: objects, exptime_dark, exptime_bright, ..Default::default() };
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} spectra, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("{layer} fits"));
        let t0 = std::time::Instant::now();
        let rows = f(&lib, &sim, &dir, &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;
        bar.finish_and_clear();
        println!(
            "desi-ard validate {layer} --objects {objects} --seed {seed} --exptime-dark {exptime_dark} --exptime-bright {exptime_bright}  ({:.0} s)\n",
            t0.elapsed().as_secs_f64()
        );
        Ok(rows)
    }
}

/// `desi-ard validate sed`.
pub fn validate_sed(
    v: &ValidationRun,
    metallicity_prior: ard_sed::MetallicityPrior,
    work: Option<&Path>,
    templates: Option<&Path>,
) -> Result<()> {
    let cfg = ard_sed::SedConfig { metallicity_prior, ..Default::default() };
    println!("metallicity prior: {metallicity_prior:?}");
    let rows = v.run("sed", work, templates, |lib, sim, dir, progress| Ok(ard_validate::sed::run(lib, sim, &cfg, dir, progress)?))?;
    print!("{}", ard_validate::sed::markdown(&rows));
    Ok(())
}

/// `desi-ard validate physics`.
pub fn validate_physics(
    objects: usize,
    seed: u64,
    exptime_dark: f64,
    exptime_bright: f64,
    work: Option<&Path>,
    templates: Option<&Path>,
) -> Result<()> {
    let v = ValidationRun { objects, seed, exptime_dark, exptime_bright };
    let rows = v.run("physics", work, templates, |lib, sim, dir, progress| {
        Ok(ard_validate::physics::run(lib, sim, &ard_physics::FitConfig::default(), dir, progress)?)
    })?;
    print!("{}", ard_validate::physics::summarise(&rows).markdown());
    Ok(())
}

/// Arguments of `desi-ard similar`.
pub struct SimilarArgs {
    pub ard: PathBuf,
    pub targetid: Option<i64>,
    pub targetids: Option<PathBuf>,
    pub survey: Option<String>,
    pub program: Option<String>,
    pub k: usize,
    pub embedding: String,
    pub filter: Option<String>,
    pub columns: Vec<String>,
    pub exclude_self: bool,
    pub format: ard_query::output::Format,
    pub output: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    pub plot_n: usize,
}

/// `desi-ard similar`.
pub fn similar(a: SimilarArgs) -> Result<()> {
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

/// Ingest settings from a config file (`--config FILE`, else `ARD/desi-ard.toml` when it
/// exists), so that every re-run, shard and Slurm task of an ARD uses the same layers:
///
/// ```toml
/// [ingest]
/// astroclip = "/data/models/astroclip.ckpt"   # relative paths: to the file's folder
/// templates = "/data/emiles-ssp-v1.fits"
/// physics = true
/// workers = 16
/// ```
///
/// Command-line flags override it.
#[derive(Debug, Default, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// AstroCLIP weights.
    pub astroclip: Option<PathBuf>,
    /// E-MILES template file.
    pub templates: Option<PathBuf>,
    /// Run the physics layer.
    pub physics: Option<bool>,
    /// Pixels in parallel.
    pub workers: Option<usize>,
    /// Run the SED fit.
    pub sed: Option<bool>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    ingest: IngestConfig,
}

/// Reads the ingest config: `explicit`, else `ARD/desi-ard.toml`, else defaults.
pub fn ingest_config(explicit: Option<&Path>, ard: &Path) -> Result<IngestConfig> {
    let default = ard.join("desi-ard.toml");
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if default.exists() => default,
        None => return Ok(IngestConfig::default()),
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading config {}", path.display()))?;
    let file: ConfigFile = toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |p: Option<PathBuf>| p.map(|p| if p.is_absolute() { p } else { base.join(p) });
    let mut c = file.ingest;
    c.astroclip = resolve(c.astroclip);
    c.templates = resolve(c.templates);
    if let Some(a) = &c.astroclip {
        if !a.exists() {
            bail!("config {}: astroclip weights {} do not exist", path.display(), a.display());
        }
    }
    Ok(c)
}

/// The flags that choose ingest's per-object layers (shared by `ingest` and `cluster plan`,
/// whose tasks must compute exactly what a single `ingest` would).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LayerFlags {
    /// Skip the physics layer (indices, kinematics, emission lines): core columns only.
    #[arg(long)]
    pub no_physics: bool,
    /// Also run the SED fit (stellar mass, SFR, dust, age posteriors by nested
    /// sampling; seconds per galaxy per core — opt-in).
    #[arg(long)]
    pub sed: bool,
    /// The E-MILES template file (default: the one `scripts/setup.sh` made).
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// AstroCLIP weights (the published `astroclip.ckpt`, a torch state dict or
    /// safetensors): fills emb_astroclip and emb_specformer (null without).
    #[arg(long, value_name = "PATH")]
    pub astroclip: Option<PathBuf>,
    /// Settings file ([ingest] astroclip, templates, physics, workers); default
    /// ARD/desi-ard.toml when it exists. Flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// The layers [`LayerFlags`] resolve to, with the settings file applied.
pub struct Layers {
    /// The stages before the AI layer's PCA stage and the topology columns.
    pub stages: Vec<ard_core::StageRef>,
    /// Workers from the settings file.
    pub workers: Option<usize>,
    /// Whether a stage wants a GPU (AstroCLIP).
    pub uses_gpu: bool,
}

impl LayerFlags {
    /// Resolves the flags against the settings file and builds the stages (none when
    /// `build` is false: only the settings are resolved).
    pub fn layers(&self, ard: &Path, build: bool) -> Result<Layers> {
        let cfg = ingest_config(self.config.as_deref(), ard)?;
        let astroclip = self.astroclip.clone().or(cfg.astroclip);
        let templates = self.templates.clone().or(cfg.templates);
        let physics = !self.no_physics && cfg.physics.unwrap_or(true);
        let sed = self.sed || cfg.sed.unwrap_or(false);
        let mut stages = Vec::new();
        if build {
            stages = self::stages(physics, templates.as_deref(), astroclip.as_deref())?;
            if sed {
                let lib = std::sync::Arc::new(ssp::SspLibrary::locate_and_load(templates.as_deref())?);
                stages.push(std::sync::Arc::new(ard_sed::SedStage::new(lib, ard_sed::SedConfig::default())));
            }
        }
        Ok(Layers { stages, workers: cfg.workers, uses_gpu: astroclip.is_some() })
    }

    /// The same flags as `desi-ard ingest` arguments (paths made absolute).
    pub fn to_args(&self) -> Result<Vec<String>> {
        let abs = |p: &Path| -> Result<String> { Ok(std::path::absolute(p)?.to_string_lossy().into_owned()) };
        let mut a = Vec::new();
        if self.no_physics {
            a.push("--no-physics".into());
        }
        if self.sed {
            a.push("--sed".into());
        }
        for (flag, p) in [("--templates", &self.templates), ("--astroclip", &self.astroclip), ("--config", &self.config)] {
            if let Some(p) = p {
                a.push(flag.to_string());
                a.push(abs(p)?);
            }
        }
        Ok(a)
    }
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

/// `desi-ard cluster plan`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ClusterPlanArgs {
    /// DESI production root (with healpix/), on a path every node mounts.
    pub raw_root: PathBuf,
    /// The ARD folder, on a path every node mounts.
    pub ard: PathBuf,
    /// Nodes of the cluster (sets the default numbers of shards and sub-volumes).
    #[arg(long)]
    pub nodes: usize,
    /// GPUs per node: with AstroCLIP weights each ingest task asks for one (--gres=gpu:1).
    #[arg(long, default_value_t = 0)]
    pub gpus_per_node: usize,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm account.
    #[arg(long)]
    pub account: Option<String>,
    /// Time limit of every job (Slurm's format).
    #[arg(long, default_value = "24:00:00")]
    pub time: String,
    /// CPUs of every task (its threads: SLURM_CPUS_PER_TASK).
    #[arg(long, default_value_t = 8)]
    pub cpus_per_task: usize,
    /// Memory of each array task (the single jobs take a node's memory: --mem=0).
    #[arg(long, default_value = "32G")]
    pub mem: String,
    /// Ingest shards, split largest-first by target count (default: 4 per node, or
    /// the previous plan's with --resume).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Topology sub-volumes (default: 4 per node, or the previous plan's with --resume).
    #[arg(long)]
    pub subvolumes: Option<usize>,
    #[command(flatten)]
    pub topology: TopologyFlags,
    /// Node-local scratch folder for the ingest tasks' files (copied into the ARD).
    #[arg(long)]
    pub scratch: Option<PathBuf>,
    /// The desi-ard binary the nodes run (default: this one; it must be on a shared path).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    #[command(flatten)]
    pub layers: LayerFlags,
    /// Only what is missing: shards with pixels not current, then the steps after them.
    #[arg(long)]
    pub resume: bool,
    /// Submit the chain with sbatch (else print it; ARD/cluster/plan-K/submit.sh does the same).
    #[arg(long)]
    pub submit: bool,
}

/// Runs `desi-ard cluster status`.
pub fn cluster_status(ard: &Path) -> Result<()> {
    let st = ard_cluster::status(ard)?;
    print!("{}", ard_cluster::status_text(&st));
    Ok(())
}

/// Runs `desi-ard cluster plan`.
pub fn cluster_plan(a: ClusterPlanArgs) -> Result<()> {
    let raw_root = std::path::absolute(&a.raw_root)?;
    let ard = std::path::absolute(&a.ard)?;
    std::fs::create_dir_all(&ard).with_context(|| format!("creating {}", ard.display()))?;
    let previous = if a.resume { ard_cluster::Plan::read_latest(&ard).ok() } else { None };
    let per_node = 4 * a.nodes.max(1);
    let shards = a.shards.or(previous.as_ref().map(|p| p.shards)).unwrap_or(per_node);
    let subvolumes = a.subvolumes.or(previous.as_ref().map(|p| p.subvolumes)).unwrap_or(per_node);
    let binary = match &a.binary {
        Some(b) => std::path::absolute(b)?,
        None => std::env::current_exe().context("locating this desi-ard binary (give --binary)")?,
    };
    if !binary.exists() {
        bail!("--binary {}: no such file", binary.display());
    }
    let scratch = a.scratch.as_ref().map(std::path::absolute).transpose()?;
    // What a single ingest with these flags would fingerprint: needs the stages and
    // the learned basis, so only when resuming with a basis present.
    let model = ard_store::layout::ArdLayout::new(&ard).models().join(ard_ingest::models::MODEL_FILE);
    let layers = a.layers.layers(&ard, a.resume && model.exists())?;
    let ingest_config = if a.resume && model.exists() {
        let mut opts = ard_ingest::IngestOptions {
            raw_root: raw_root.clone(),
            ard: ard.clone(),
            workers: 1,
            shard: None,
            balance: false,
            survey: None,
            program: None,
            stages: layers.stages,
            quiet: true,
            scratch: None,
        };
        ard_ingest::models::add_pca_stage(&mut opts, false)?;
        opts.stages.push(std::sync::Arc::new(ard_ingest::topology::TopologyColumns));
        Some(ard_ingest::config_fingerprint(&opts.stages))
    } else {
        None
    };
    let spec = ard_cluster::ChainSpec {
        raw_root,
        ard,
        binary,
        shards,
        ingest_args: a.layers.to_args()?,
        ingest_uses_gpu: layers.uses_gpu,
        scratch,
        topology: a.topology.options(subvolumes),
        ingest_config,
    };
    let resources = ard_cluster::SlurmResources {
        nodes: a.nodes,
        gpus_per_node: a.gpus_per_node,
        partition: a.partition,
        account: a.account,
        time: a.time,
        cpus_per_task: a.cpus_per_task,
        mem: a.mem,
    };
    let plan = ard_cluster::plan_chain(&spec, &resources, a.resume)?;
    print!("{}", ard_cluster::plan_text(&plan));
    if plan.is_empty() {
        return Ok(());
    }
    if a.submit {
        let sbatch = std::env::var("DESI_ARD_SBATCH").unwrap_or_else(|_| "sbatch".into());
        for s in ard_cluster::submit(&plan, &sbatch)? {
            println!("submitted {} as job {}", s.step.name(), s.job_id);
        }
        println!("follow it with: desi-ard cluster status {}", plan.ard.display());
    } else {
        println!("submit with: bash {}", plan.dir.join("submit.sh").display());
    }
    Ok(())
}
