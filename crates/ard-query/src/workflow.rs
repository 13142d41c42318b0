//! The two science workflows of the original design, end to end from an ARD, each
//! writing a table (CSV) and a figure (PNG):
//!
//! * [`green_pea_hunt`]: start from one Green Pea, retrieve its nearest neighbours in an
//!   embedding column, report how many are Green-Pea-like (when the simulator's truth is
//!   given) and show the query's and the nearest neighbours' spectra;
//! * [`environmental_quenching`]: `SELECT logm_p50, logsfr_p50, web_class FROM catalog`,
//!   median specific SFR and quiescent fraction in bins of stellar mass per cosmic-web
//!   class, with errors, voids against filaments on one plot.
//!
//! Columns a workflow needs that the ARD does not have yet make it say which, and which
//! layer writes them. On a simulated sample, `truth` (the simulator's truth.parquet) can
//! stand in for them — labelled as such on the table and the figure.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ard_core::names::{LOGM_P50, LOGSFR_P50, WEB_CLASS};
use ard_core::web::WebClass;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use plotters::style::RGBColor;

use crate::plot::{plot_binned, plot_stack, BinnedSeries, StackedSpectrum};
use crate::similar::{SimilarQuery, SimilarRequest};
use crate::{ArdQuery, QueryError};

/// log10 sSFR (yr⁻¹) below which a galaxy counts as quiescent.
pub const QUIESCENT_LOG_SSFR: f64 = -11.0;

fn out_err(path: &Path, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> QueryError {
    QueryError::write(path, e)
}

/// Catalogue column names.
pub fn catalog_columns(q: &ArdQuery) -> Result<Vec<String>, QueryError> {
    Ok(q.catalog_schema()?.fields().iter().map(|f| f.name().clone()).collect())
}

fn f64_values(b: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>, QueryError> {
    let c = b.column_by_name(name).ok_or_else(|| QueryError::NoColumn { column: name.to_string() })?;
    let c = arrow_cast::cast(c, &DataType::Float64).map_err(|e| QueryError::arrow(format!("column {name} as Float64"), e))?;
    let a = c.as_primitive::<Float64Type>();
    Ok((0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i))).collect())
}

fn i64_values(b: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>, QueryError> {
    let c = b.column_by_name(name).ok_or_else(|| QueryError::NoColumn { column: name.to_string() })?;
    let c = arrow_cast::cast(c, &DataType::Int64).map_err(|e| QueryError::arrow(format!("column {name} as Int64"), e))?;
    let a = c.as_primitive::<Int64Type>();
    Ok((0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i))).collect())
}

/// The simulator's truth table, by TARGETID.
pub struct Truth {
    batch: RecordBatch,
    row: HashMap<i64, usize>,
}

impl Truth {
    /// Reads `truth.parquet` (as written by `desi-ard simulate`).
    pub fn read(path: &Path) -> Result<Self, QueryError> {
        let batch = ard_store::catalog::read_parquet(path)?;
        let ids = i64_values(&batch, "targetid").map_err(|_| out_err(path, "not a truth table (no targetid)"))?;
        let row = ids.iter().enumerate().filter_map(|(i, t)| t.map(|t| (t, i))).collect();
        Ok(Truth { batch, row })
    }

    /// A boolean column's value for a TARGETID.
    pub fn flag(&self, targetid: i64, name: &str) -> Option<bool> {
        let r = *self.row.get(&targetid)?;
        let c = self.batch.column_by_name(name)?.as_boolean_opt()?;
        (!c.is_null(r)).then(|| c.value(r))
    }

    /// A numeric column's value for a TARGETID.
    pub fn value(&self, targetid: i64, name: &str) -> Option<f64> {
        let r = *self.row.get(&targetid)?;
        f64_values(&self.batch, name).ok()?.get(r).copied().flatten()
    }

    /// TARGETIDs with a true flag, ascending.
    pub fn with_flag(&self, name: &str) -> Vec<i64> {
        let mut v: Vec<i64> = self.row.keys().copied().filter(|t| self.flag(*t, name) == Some(true)).collect();
        v.sort_unstable();
        v
    }
}

/// Settings of [`green_pea_hunt`].
#[derive(Debug, Clone)]
pub struct GreenPeaOptions {
    /// The Green Pea to start from (default with `truth`: the first simulated one that
    /// has an embedding).
    pub targetid: Option<i64>,
    /// Neighbours to retrieve.
    pub k: usize,
    /// Embedding column.
    pub column: String,
    /// The simulator's truth table, to say which neighbours are Green-Pea-like.
    pub truth: Option<PathBuf>,
    /// Output folder.
    pub out_dir: PathBuf,
    /// Neighbours drawn under the query.
    pub n_plot: usize,
}

/// What [`green_pea_hunt`] found.
#[derive(Debug, Clone)]
pub struct GreenPeaReport {
    /// The query TARGETID.
    pub query: i64,
    /// Neighbours returned (the query itself excluded).
    pub n_neighbours: usize,
    /// Green-Pea-like neighbours (with truth).
    pub n_green_pea: Option<usize>,
    /// Fraction of the 20 nearest that are Green-Pea-like (with truth).
    pub precision_at_20: Option<f64>,
    /// The table written.
    pub table: PathBuf,
    /// The figure written.
    pub figure: PathBuf,
}

/// The Green Pea hunt (see the module docs).
pub fn green_pea_hunt(q: &ArdQuery, opts: &GreenPeaOptions) -> Result<GreenPeaReport, QueryError> {
    let truth = opts.truth.as_deref().map(Truth::read).transpose()?;
    let ix = q.embedding_index(&opts.column)?;
    let query = match (opts.targetid, &truth) {
        (Some(t), _) => t,
        (None, Some(tr)) => tr
            .with_flag("is_green_pea")
            .into_iter()
            .find(|t| ix.find(*t, None, None).is_some())
            .ok_or_else(|| QueryError::NoGreenPea { column: Some(opts.column.clone()) })?,
        (None, None) => return Err(QueryError::NoGreenPea { column: None }),
    };
    let have = catalog_columns(q)?;
    let wanted = ["z", "zwarn", "spectype", "flux_r", "oiii_5007_flux", "h_beta_flux", "h_alpha_flux"];
    let cols: Vec<String> = wanted.iter().filter(|c| have.iter().any(|h| h == *c)).map(|c| c.to_string()).collect();
    let req = SimilarRequest {
        column: opts.column.clone(),
        queries: vec![SimilarQuery { targetid: query, survey: None, program: None }],
        k: opts.k,
        filter: None,
        exclude_self: true,
    };
    let (batches, res) = q.similar_table(&req, &cols)?;
    let neighbours = &res.per_query[0].1;
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| out_err(&opts.out_dir, e))?;
    let table = opts.out_dir.join(format!("green-pea-{query}-neighbours.csv"));
    let mut csv = Vec::new();
    {
        let mut w = arrow_csv::WriterBuilder::new().with_header(true).build(&mut csv);
        for b in &batches {
            w.write(b).map_err(|e| out_err(&table, e))?;
        }
    }
    // The truth flag as a last column, so the table says which neighbours are Green Peas.
    let text = String::from_utf8_lossy(&csv).into_owned();
    let mut lines = text.lines();
    let mut out = String::new();
    if let Some(h) = lines.next() {
        out.push_str(h);
        out.push_str(if truth.is_some() { ",truth_is_green_pea\n" } else { "\n" });
    }
    for (line, (key, _)) in lines.zip(neighbours) {
        out.push_str(line);
        if let Some(tr) = &truth {
            out.push_str(&format!(",{}", tr.flag(key.targetid, "is_green_pea").map_or("".into(), |b| b.to_string())));
        }
        out.push('\n');
    }
    std::fs::write(&table, out).map_err(|e| out_err(&table, e))?;
    let flags: Option<Vec<bool>> =
        truth.as_ref().map(|tr| neighbours.iter().map(|(k, _)| tr.flag(k.targetid, "is_green_pea") == Some(true)).collect());
    let n_green_pea = flags.as_ref().map(|f| f.iter().filter(|x| **x).count());
    let precision_at_20 = flags.as_ref().map(|f| {
        let top = &f[..f.len().min(20)];
        top.iter().filter(|x| **x).count() as f64 / top.len().max(1) as f64
    });
    // Figure: the query and its nearest neighbours, rest frame.
    let mut spectra = Vec::new();
    let qrow = &res.per_query[0].0;
    let mut keys = vec![(qrow.clone(), 1.0f32)];
    keys.extend(neighbours.iter().take(opts.n_plot).cloned());
    for (k, score) in &keys {
        if let Some(s) = q.spectrum(k.targetid, Some(&k.survey), Some(&k.program))? {
            spectra.push((k.clone(), *score, s));
        }
    }
    let stack: Vec<StackedSpectrum> = spectra
        .iter()
        .enumerate()
        .map(|(i, (k, score, s))| {
            let gp = truth.as_ref().and_then(|t| t.flag(k.targetid, "is_green_pea"));
            let tag = match gp {
                Some(true) => "  [Green Pea]",
                Some(false) => "  [not a Green Pea]",
                None => "",
            };
            StackedSpectrum {
                label: if i == 0 {
                    format!("query {} z={:.3}{tag}", k.targetid, s.z)
                } else {
                    format!("#{i} {} z={:.3} cos={score:.3}{tag}", k.targetid, s.z)
                },
                wave: &s.wavelength,
                flux: &s.flux,
                ivar: &s.ivar,
                z: s.z,
            }
        })
        .collect();
    let figure = opts.out_dir.join(format!("green-pea-{query}-neighbours.png"));
    let title = match n_green_pea {
        Some(n) => {
            format!("Green Pea {query}: {n} of {} nearest in {} are Green-Pea-like (simulator truth)", neighbours.len(), opts.column)
        }
        None => format!("Green Pea {query}: nearest neighbours in {}", opts.column),
    };
    plot_stack(&figure, &title, &stack, 8)?;
    Ok(GreenPeaReport { query, n_neighbours: neighbours.len(), n_green_pea, precision_at_20, table, figure })
}

/// One bin of [`environmental_quenching`].
#[derive(Debug, Clone, PartialEq)]
pub struct QuenchingBin {
    /// Web class.
    pub web_class: WebClass,
    /// Bin edges, log10 M☉.
    pub logm_lo: f64,
    /// Upper edge.
    pub logm_hi: f64,
    /// Galaxies.
    pub n: usize,
    /// Median log10 sSFR (yr⁻¹).
    pub median_log_ssfr: f64,
    /// Its 1σ error (1.2533 σ/√n).
    pub median_err: f64,
    /// Fraction with log sSFR < [`QUIESCENT_LOG_SSFR`].
    pub quiescent_fraction: f64,
    /// Its binomial 1σ error.
    pub quiescent_err: f64,
}

/// Bins (log M, log SFR, web class) triples: `width`-dex mass bins from the lowest mass,
/// bins with fewer than `min_n` galaxies left out.
pub fn bin_quenching(rows: &[(f64, f64, i64)], width: f64, min_n: usize) -> Vec<QuenchingBin> {
    let good: Vec<(f64, f64, WebClass)> =
        rows.iter().filter(|r| r.0.is_finite() && r.1.is_finite()).filter_map(|r| Some((r.0, r.1, WebClass::from_code(r.2)?))).collect();
    let Some(lo) = good.iter().map(|r| r.0).reduce(f64::min) else { return vec![] };
    let lo = (lo / width).floor() * width;
    let mut groups: HashMap<(WebClass, i64), Vec<f64>> = HashMap::new();
    for r in &good {
        let b = ((r.0 - lo) / width).floor() as i64;
        groups.entry((r.2, b)).or_default().push(r.1 - r.0);
    }
    let mut out: Vec<QuenchingBin> = groups
        .into_iter()
        .filter(|(_, v)| v.len() >= min_n)
        .map(|((class, b), mut v)| {
            v.sort_by(f64::total_cmp);
            let n = v.len();
            let median = if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) };
            let mean = v.iter().sum::<f64>() / n as f64;
            let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64).sqrt();
            let q = v.iter().filter(|x| **x < QUIESCENT_LOG_SSFR).count() as f64 / n as f64;
            QuenchingBin {
                web_class: class,
                logm_lo: lo + b as f64 * width,
                logm_hi: lo + (b + 1) as f64 * width,
                n,
                median_log_ssfr: median,
                median_err: 1.2533 * sd / (n as f64).sqrt(),
                quiescent_fraction: q,
                quiescent_err: (q * (1.0 - q) / n as f64).sqrt(),
            }
        })
        .collect();
    out.sort_by_key(|a| (a.web_class, a.logm_lo.to_bits()));
    out
}

/// What [`environmental_quenching`] wrote.
#[derive(Debug, Clone)]
pub struct QuenchingReport {
    /// The bins.
    pub bins: Vec<QuenchingBin>,
    /// Galaxies used.
    pub n_galaxies: usize,
    /// Where the values came from (`catalogue` or the truth file).
    pub source: String,
    /// The table written.
    pub table: PathBuf,
    /// The figure written.
    pub figure: PathBuf,
}

fn column_is_empty(q: &ArdQuery, column: &str) -> Result<bool, QueryError> {
    let b = q.sql(&format!("SELECT count({column}) AS n FROM catalog"))?;
    let n: i64 = b
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| b.column(0).as_any().downcast_ref::<arrow_array::Int64Array>().map(|a| a.value(0)))
        .unwrap_or(0);
    Ok(n == 0)
}

/// The environmental-quenching workflow (see the module docs). Without the SED and
/// topology columns it stops with an error naming them, unless `truth` is given.
pub fn environmental_quenching(q: &ArdQuery, truth: Option<&Path>, out_dir: &Path) -> Result<QuenchingReport, QueryError> {
    let have = catalog_columns(q)?;
    let needed = [
        (LOGM_P50, "the SED layer (stellar mass)"),
        (LOGSFR_P50, "the SED layer (SFR)"),
        (WEB_CLASS, "the topology layer (`desi-ard topology`)"),
    ];
    // A column that exists but holds no value yet (the topology columns before
    // `desi-ard topology` runs) is as missing as one that does not exist.
    let mut missing = Vec::new();
    for (c, w) in needed {
        if !have.iter().any(|h| h == c) {
            missing.push(format!("{c} (written by {w})"));
        } else if column_is_empty(q, c)? {
            missing.push(format!("{c} (present but null everywhere: run {w})"));
        }
    }
    let (rows, source): (Vec<(f64, f64, i64)>, String) = if missing.is_empty() {
        let b = q.sql(&format!("SELECT {LOGM_P50}, {LOGSFR_P50}, {WEB_CLASS} FROM catalog WHERE zcat_primary AND {LOGM_P50} IS NOT NULL AND {LOGSFR_P50} IS NOT NULL AND {WEB_CLASS} IS NOT NULL"))?;
        let mut rows = Vec::new();
        for b in &b {
            let (m, s, w) = (f64_values(b, LOGM_P50)?, f64_values(b, LOGSFR_P50)?, i64_values(b, WEB_CLASS)?);
            for i in 0..b.num_rows() {
                if let (Some(m), Some(s), Some(w)) = (m[i], s[i], w[i]) {
                    rows.push((m, s, w));
                }
            }
        }
        (rows, "catalogue: logm_p50, logsfr_p50, web_class".into())
    } else if let Some(t) = truth {
        let tr = Truth::read(t)?;
        let b = q.sql("SELECT targetid FROM catalog WHERE zcat_primary")?;
        let mut rows = Vec::new();
        for b in &b {
            for t in i64_values(b, "targetid")?.into_iter().flatten() {
                if let (Some(m), Some(s), Some(w)) = (tr.value(t, "logm_total"), tr.value(t, "logsfr_100myr"), tr.value(t, "web_class")) {
                    rows.push((m, s, w as i64));
                }
            }
        }
        (rows, format!("SIMULATOR TRUTH ({}: logm_total, logsfr_100myr, web_class) standing in for {}", t.display(), missing.join(", ")))
    } else {
        return Err(QueryError::MissingLayers { columns: missing });
    };
    if rows.is_empty() {
        return Err(QueryError::NoGalaxies);
    }
    let bins = bin_quenching(&rows, 0.5, 5);
    std::fs::create_dir_all(out_dir).map_err(|e| out_err(out_dir, e))?;
    let table = out_dir.join("quenching-by-environment.csv");
    let mut f = std::fs::File::create(&table).map_err(|e| out_err(&table, e))?;
    writeln!(f, "# source: {source}").map_err(|e| out_err(&table, e))?;
    writeln!(f, "web_class,web_class_name,logm_lo,logm_hi,n,median_log_ssfr,median_log_ssfr_err,quiescent_fraction,quiescent_fraction_err")
        .map_err(|e| out_err(&table, e))?;
    for b in &bins {
        writeln!(
            f,
            "{},{},{:.2},{:.2},{},{:.4},{:.4},{:.4},{:.4}",
            b.web_class.code(),
            b.web_class.name(),
            b.logm_lo,
            b.logm_hi,
            b.n,
            b.median_log_ssfr,
            b.median_err,
            b.quiescent_fraction,
            b.quiescent_err
        )
        .map_err(|e| out_err(&table, e))?;
    }
    let colors = [RGBColor(30, 110, 220), RGBColor(120, 170, 120), RGBColor(220, 60, 40), RGBColor(120, 60, 160)];
    let series: Vec<BinnedSeries> = WebClass::ALL
        .into_iter()
        .map(|c| BinnedSeries {
            name: format!("{} (web_class {})", c.name(), c.code()),
            color: colors[c.code() as usize],
            points: bins
                .iter()
                .filter(|b| b.web_class == c)
                .map(|b| (0.5 * (b.logm_lo + b.logm_hi), b.median_log_ssfr, b.median_err))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let figure = out_dir.join("quenching-by-environment.png");
    let title = if source.starts_with("SIMULATOR") {
        "median sSFR vs stellar mass by web class — simulator truth"
    } else {
        "median sSFR vs stellar mass by cosmic-web class"
    };
    plot_binned(&figure, title, "log10 M* (Msun)", "median log10 sSFR (1/yr), ±1σ", &series)?;
    Ok(QuenchingReport { bins, n_galaxies: rows.len(), source, table, figure })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binning_medians_fractions_and_errors() {
        let mut rows = Vec::new();
        for i in 0..40 {
            // Voids: star-forming (log sSFR −10); filaments: half quenched (−12).
            rows.push((9.6 + 0.01 * i as f64, 9.6 + 0.01 * i as f64 - 10.0, 0));
            rows.push((9.6 + 0.01 * i as f64, 9.6 + 0.01 * i as f64 - if i % 2 == 0 { 12.0 } else { 10.0 }, 2));
        }
        rows.push((f64::NAN, 0.0, 0));
        rows.push((10.0, 0.0, 7));
        let bins = bin_quenching(&rows, 0.5, 5);
        assert_eq!(bins.len(), 2, "{bins:?}");
        let (void, fil) = (&bins[0], &bins[1]);
        assert_eq!((void.web_class, void.n, fil.web_class, fil.n), (WebClass::Void, 40, WebClass::Filament, 40));
        assert!((void.logm_lo - 9.5).abs() < 1e-12 && (void.logm_hi - 10.0).abs() < 1e-12);
        assert!((void.median_log_ssfr + 10.0).abs() < 1e-9 && void.quiescent_fraction == 0.0);
        assert!((fil.quiescent_fraction - 0.5).abs() < 1e-12);
        assert!((fil.quiescent_err - (0.25f64 / 40.0).sqrt()).abs() < 1e-12);
        assert!((fil.median_log_ssfr + 11.0).abs() < 1e-9, "median of a 50/50 split");
        assert!(bin_quenching(&rows, 0.5, 41).is_empty());
    }
}
