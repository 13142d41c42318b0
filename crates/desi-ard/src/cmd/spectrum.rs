//! `desi-ard spectrum`: one spectrum by TARGETID, plotted or written out.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};

/// Arguments of `desi-ard spectrum`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ARD folder.
    pub ard: PathBuf,
    /// TARGETID.
    pub targetid: i64,
    /// Survey of the coadd to use.
    #[arg(long)]
    pub survey: Option<String>,
    /// Program of the coadd to use.
    #[arg(long)]
    pub program: Option<String>,
    /// Write a PNG plot (flux ±1σ, redshift, lines).
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Smoothing for the plot, pixels.
    #[arg(long, default_value_t = 3)]
    pub smooth: usize,
    /// Write the spectrum as csv or fits (to --output, or CSV to standard output).
    #[arg(long)]
    pub format: Option<String>,
    /// Output file for --format.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Runs `desi-ard spectrum`.
pub fn run(args: Args) -> Result<()> {
    let Args { ard, targetid, survey, program, png, smooth, format, output } = args;
    let t0 = Instant::now();
    let q = ard_query::ArdQuery::open(&ard)?;
    let Some(s) = q.spectrum(targetid, survey.as_deref(), program.as_deref())? else {
        bail!(
            "TARGETID {targetid}{} is not in {}",
            match (&survey, &program) {
                (None, None) => String::new(),
                _ => format!(" (survey {:?}, program {:?})", survey, program),
            },
            ard.display()
        );
    };
    eprintln!(
        "TARGETID {} ({} {}), z = {:.5}: {} pixels, looked up in {:.0} ms",
        s.targetid,
        s.survey,
        s.program,
        s.z,
        s.flux.len(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    if let Some(p) = &png {
        let title = format!("TARGETID {}  {} {}  z = {:.4}", s.targetid, s.survey, s.program, s.z);
        ard_query::plot::plot_spectrum(p, &title, &s.wavelength, &s.flux, &s.ivar, s.array(ard_core::names::MODEL), s.z, smooth)?;
        eprintln!("plot: {}", p.display());
    }
    if let Some(fmt) = format {
        write_spectrum(&s, &fmt, output.as_deref())?;
    } else if png.is_none() {
        write_spectrum(&s, "csv", output.as_deref())?;
    }
    Ok(())
}

/// Writes one spectrum as CSV (wavelength, flux, ivar, mask, then the layers' arrays
/// in name order: fit_mask, model, model_lines where the ARD has them) or a FITS table of the same
/// columns (upper-case).
pub fn write_spectrum(s: &ard_store::spectra::Spectrum, format: &str, out: Option<&Path>) -> Result<()> {
    match format {
        "csv" => {
            let mut text = String::from("wavelength,flux,ivar,mask");
            for (name, _) in &s.arrays {
                text.push_str(&format!(",{name}"));
            }
            text.push('\n');
            for i in 0..s.wavelength.len() {
                text.push_str(&format!("{:.1},{},{},{}", s.wavelength[i], s.flux[i], s.ivar[i], s.mask[i]));
                for (_, v) in &s.arrays {
                    text.push_str(&format!(",{}", v[i]));
                }
                text.push('\n');
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
            let mut fields = vec![
                f("WAVELENGTH", arrow_schema::DataType::Float64, "Angstrom"),
                f("FLUX", arrow_schema::DataType::Float32, "10**-17 erg/(s cm2 Angstrom)"),
                f("IVAR", arrow_schema::DataType::Float32, "10**+34 (s2 cm4 Angstrom2) / erg2"),
                f("MASK", arrow_schema::DataType::Int32, ""),
            ];
            let mut columns: Vec<arrow_array::ArrayRef> = vec![
                Arc::new(arrow_array::Float64Array::from(s.wavelength.clone())),
                Arc::new(arrow_array::Float32Array::from(s.flux.clone())),
                Arc::new(arrow_array::Float32Array::from(s.ivar.clone())),
                Arc::new(arrow_array::Int32Array::from(s.mask.clone())),
            ];
            for (name, v) in &s.arrays {
                let unit = if name == ard_core::names::FIT_MASK { "" } else { "10**-17 erg/(s cm2 Angstrom)" };
                fields.push(f(&name.to_uppercase(), arrow_schema::DataType::Float32, unit));
                columns.push(Arc::new(arrow_array::Float32Array::from(v.clone())));
            }
            let batch = arrow_array::RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns)?;
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
