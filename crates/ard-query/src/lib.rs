//! `ard-query` owns asking an ARD: read-only SQL over the HATS catalogue and the
//! exposures table with DataFusion (Parquet row-group pruning on `healpix`,
//! `_healpix_29`, positions and any other column), the sky-distance function
//! `angdist` and the table function `cone_search(ra, dec, radius_deg)`, similarity
//! search over the embedding columns ([`similar`]: `ArdQuery::similar` and the table
//! function `similar(column, targetid, k)`), output in the formats astronomers use, and
//! spectrum retrieval by TARGETID.
//!
//! Tables: `catalog` (one row per (targetid, survey, program)) and `exposures`
//! (EXP_FIBERMAP rows). SQL is read-only: DDL, DML, `COPY` and `SET` are refused.
//!
//! ```no_run
//! let q = ard_query::ArdQuery::open(std::path::Path::new("ARD")).unwrap();
//! let rows = q.sql("SELECT spectype, count(*) FROM catalog GROUP BY spectype").unwrap();
//! println!("{}", ard_query::output::to_table(&rows).unwrap());
//! ```
#![deny(missing_docs)]

pub mod exposures;
pub mod output;
pub mod plot;
pub mod similar;
pub mod workflow;

use std::path::Path;
use std::sync::Arc;

use ard_store::ArdLayout;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch};
use arrow_schema::DataType;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::{provider_as_source, ViewTable};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{col, create_udf, lit, ColumnarValue, Expr, LogicalPlanBuilder, ScalarUDF, Volatility};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;

/// Errors of the query layer. Each says its own facts once; the error it wraps is its
/// `source()`.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Not an ARD, or one without a catalogue.
    #[error("{}: not an ARD (no catalog/desi_ard/dataset/_common_metadata); run `desi-ard ingest RAW {}` first", ard.display(), ard.display())]
    NotAnArd {
        /// The directory given.
        ard: std::path::PathBuf,
    },
    /// DataFusion rejected or failed the query (malformed SQL, unknown table or column).
    #[error("{}", .0.strip_backtrace())]
    Sql(#[source] DataFusionError),
    /// The SQL is a statement, DDL or DML: the ARD is read-only.
    #[error("the ARD is read-only: only queries (SELECT, WITH, EXPLAIN, SHOW, DESCRIBE) are allowed")]
    ReadOnly(#[source] DataFusionError),
    /// `similar()` or `--column` names a column that is not an embedding.
    #[error("{column:?} is not an embedding column (emb_pca, emb_specformer, emb_astroclip)")]
    NotEmbeddingColumn {
        /// The column named.
        column: String,
    },
    /// The `--where` filter of a similarity search failed.
    #[error("--where {clause:?}")]
    Where {
        /// The filter as given.
        clause: String,
        /// Why it failed.
        #[source]
        source: Box<QueryError>,
    },
    /// An Arrow kernel (cast, concatenation, formatting, a writer) failed.
    #[error("{context}")]
    Arrow {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// Writing an output file failed.
    #[error("writing {}", path.display())]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A binary output format was asked for without a file to write.
    #[error("--format {format} needs --output FILE")]
    NeedsOutput {
        /// The format.
        format: &'static str,
    },
    /// The query produced no schema to write.
    #[error("the query returned no schema")]
    NoSchema,
    /// A spectrum plot has no pixel with ivar > 0.
    #[error("no pixel with ivar > 0 to plot")]
    NoPlottablePixel,
    /// A stacked plot was given no spectra.
    #[error("no spectrum to plot")]
    NoSpectrum,
    /// A binned plot has no finite bin.
    #[error("{}: no bin has data to plot", path.display())]
    EmptyBins {
        /// The plot file.
        path: std::path::PathBuf,
    },
    /// Another query panicked while holding the index cache.
    #[error("the index cache was poisoned by a panic in another query")]
    IndexCachePoisoned,
    /// A result batch lacks a column the command reads.
    #[error("no column {column}")]
    NoColumn {
        /// The column.
        column: String,
    },
    /// The embedding column is null in every row.
    #[error("{column} is null in every row of this ARD ({}); emb_pca is always filled", if column == "emb_pca" { "no model could be learned" } else { "it was ingested without --astroclip weights" })]
    EmptyEmbedding {
        /// The column.
        column: String,
    },
    /// The query object is not in the catalogue or has a null embedding.
    #[error("TARGETID {targetid}{} has no {column} (not in the catalogue, or its embedding is null: see its status column)", match (survey, program) { (None, None) => String::new(), _ => format!(" ({} {})", survey.as_deref().unwrap_or("*"), program.as_deref().unwrap_or("*")) })]
    NoEmbedding {
        /// The object.
        targetid: i64,
        /// Its survey, when given.
        survey: Option<String>,
        /// Its program, when given.
        program: Option<String>,
        /// The embedding column.
        column: String,
    },
    /// The Green Pea workflow has no object to start from.
    #[error("{}", match column { Some(c) => format!("no simulated Green Pea has a {c} embedding in this ARD"), None => "give --targetid of a Green Pea (or --truth to start from a simulated one)".to_string() })]
    NoGreenPea {
        /// The embedding column searched, when a truth table was given.
        column: Option<String>,
    },
    /// A workflow needs columns of layers this ARD was not ingested with.
    #[error("this ARD has no {}: run those layers first (on a simulated sample, --truth OUT/truth/truth.parquet uses the simulator's values instead)", columns.join(", "))]
    MissingLayers {
        /// The missing columns.
        columns: Vec<String>,
    },
    /// The quenching workflow found no galaxy with every column it needs.
    #[error("no galaxy has stellar mass, SFR and web class")]
    NoGalaxies,
    /// The similarity index could not be loaded or searched.
    #[error(transparent)]
    Index(#[from] ard_search::SearchError),
    /// Reading the ARD's files failed.
    #[error(transparent)]
    Store(#[from] ard_store::StoreError),
    /// The query engine's threads could not be started.
    #[error("starting the query runtime")]
    Runtime(#[source] std::io::Error),
}

impl QueryError {
    /// An Arrow error while doing `context`.
    pub fn arrow(context: impl Into<String>, source: arrow_schema::ArrowError) -> Self {
        QueryError::Arrow { context: context.into(), source }
    }
    /// A failure writing `path`.
    pub fn write(path: &Path, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        QueryError::Write { path: path.to_path_buf(), source: source.into() }
    }
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        QueryError::Sql(e)
    }
}

/// A read-only query session over one ARD.
pub struct ArdQuery {
    ctx: SessionContext,
    runtime: tokio::runtime::Runtime,
    layout: ArdLayout,
    indexes: Arc<similar::IndexCache>,
}

/// Great-circle distance in degrees between (ra1, dec1) and (ra2, dec2), degrees
/// (haversine formula, accurate at all separations).
pub fn angular_distance_deg(ra1: f64, dec1: f64, ra2: f64, dec2: f64) -> f64 {
    let (r1, d1, r2, d2) = (ra1.to_radians(), dec1.to_radians(), ra2.to_radians(), dec2.to_radians());
    let h = ((d2 - d1) / 2.0).sin().powi(2) + d1.cos() * d2.cos() * ((r2 - r1) / 2.0).sin().powi(2);
    2.0 * h.sqrt().min(1.0).asin().to_degrees()
}

fn angdist_udf() -> ScalarUDF {
    let fun = Arc::new(|args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(args)?;
        let cast: Vec<ArrayRef> = arrays.iter().map(|a| arrow_cast::cast(a, &DataType::Float64)).collect::<Result<_, _>>()?;
        let v: Vec<&Float64Array> = cast.iter().map(|a| a.as_primitive::<Float64Type>()).collect();
        let n = v[0].len();
        let out: Float64Array = (0..n)
            .map(|i| {
                if v.iter().any(|a| a.is_null(i)) {
                    None
                } else {
                    Some(angular_distance_deg(v[0].value(i), v[1].value(i), v[2].value(i), v[3].value(i)))
                }
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    });
    create_udf("angdist", vec![DataType::Float64; 4], DataType::Float64, Volatility::Immutable, fun)
}

/// `cone_search(ra, dec, radius_deg)`: catalogue rows within the cone, reading only the
/// partitions that the cone touches (cdshealpix cone coverage at order 6).
#[derive(Debug)]
struct ConeSearch {
    catalog: Arc<dyn TableProvider>,
    angdist: Arc<ScalarUDF>,
}

fn literal_f64(e: &Expr, what: &str) -> datafusion::error::Result<f64> {
    let v = match e {
        Expr::Literal(v, _) => v.clone(),
        Expr::Negative(inner) => match inner.as_ref() {
            Expr::Literal(v, _) => v.arithmetic_negate()?,
            _ => return datafusion::common::plan_err!("cone_search: {what} must be a number"),
        },
        _ => return datafusion::common::plan_err!("cone_search: {what} must be a number, got {e}"),
    };
    match v.cast_to(&DataType::Float64)? {
        ScalarValue::Float64(Some(x)) if x.is_finite() => Ok(x),
        _ => datafusion::common::plan_err!("cone_search: {what} must be a finite number"),
    }
}

impl TableFunctionImpl for ConeSearch {
    fn call_with_args(&self, args: TableFunctionArgs) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.len() != 3 {
            return datafusion::common::plan_err!("cone_search(ra_deg, dec_deg, radius_deg) takes 3 arguments, got {}", exprs.len());
        }
        let ra = literal_f64(&exprs[0], "ra")?;
        let dec = literal_f64(&exprs[1], "dec")?;
        let r = literal_f64(&exprs[2], "radius")?;
        if !(-90.0..=90.0).contains(&dec) {
            return datafusion::common::plan_err!("cone_search: dec {dec} is outside [-90, 90]");
        }
        if !(r > 0.0 && r <= 180.0) {
            return datafusion::common::plan_err!("cone_search: radius {r} must be in (0, 180] degrees");
        }
        let cover = cdshealpix::nested::cone_coverage_approx(6, ra.rem_euclid(360.0).to_radians(), dec.to_radians(), r.to_radians());
        let pixels: Vec<Expr> = cover.flat_iter().map(|p| lit(p as i32)).collect();
        let within = self.angdist.call(vec![col("target_ra"), col("target_dec"), lit(ra), lit(dec)]).lt_eq(lit(r));
        let plan = LogicalPlanBuilder::scan("catalog", provider_as_source(self.catalog.clone()), None)?
            .filter(col("healpix").in_list(pixels, false).and(within))?
            .build()?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}

async fn listing(ctx: &SessionContext, dir: &Path) -> Result<Arc<dyn TableProvider>, QueryError> {
    let url = ListingTableUrl::parse(format!("{}/", dir.display())).map_err(QueryError::from)?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let schema = options.infer_schema(&ctx.state(), &url).await?;
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

impl ArdQuery {
    /// Opens an ARD: registers `catalog`, `exposures` (when present), `angdist`,
    /// `cone_search` and `similar`.
    pub fn open(ard: &Path) -> Result<Self, QueryError> {
        let layout = ArdLayout::new(ard);
        let dataset = layout.catalog().join("dataset");
        if !dataset.join("_common_metadata").exists() {
            return Err(QueryError::NotAnArd { ard: ard.to_path_buf() });
        }
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(QueryError::Runtime)?;
        let mut config = SessionConfig::new().with_information_schema(true);
        // Plain Utf8 strings: every output format (FITS, CSV) takes them.
        config.options_mut().execution.parquet.schema_force_view_types = false;
        config.options_mut().execution.parquet.pushdown_filters = true;
        let ctx = SessionContext::new_with_config(config);
        let catalog = runtime.block_on(listing(&ctx, &dataset))?;
        ctx.register_table("catalog", catalog.clone())?;
        // The exposures of the versions the leaves name (schema from the HATS table).
        let e_schema = layout.exposures().join("dataset").join("_common_metadata");
        if e_schema.exists() {
            let schema = ard_store::catalog::read_schema(&e_schema)?;
            ctx.register_table("exposures", Arc::new(exposures::PixelExposures::new(layout.clone(), schema)))?;
        }
        let angdist = Arc::new(angdist_udf());
        ctx.register_udf(angdist.as_ref().clone());
        ctx.register_udtf("cone_search", Arc::new(ConeSearch { catalog, angdist }));
        let indexes = Arc::new(similar::IndexCache::new(ard));
        ctx.register_udtf("similar", Arc::new(similar::SimilarFunction { indexes: indexes.clone() }));
        Ok(ArdQuery { ctx, runtime, layout, indexes })
    }

    /// Runs a read-only SQL query.
    ///
    /// # Errors
    /// [`QueryError::Sql`] for malformed SQL, unknown tables or columns, or anything
    /// that is not a query (DDL, DML, `COPY`, `SET`).
    pub fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
        let options =
            datafusion::execution::context::SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        self.runtime.block_on(async {
            let df = self.ctx.sql_with_options(sql, options).await.map_err(|e| {
                let msg = e.strip_backtrace();
                if msg.contains("not supported") && (msg.contains("DDL") || msg.contains("DML") || msg.contains("Statement")) {
                    QueryError::ReadOnly(e)
                } else {
                    QueryError::Sql(e)
                }
            })?;
            Ok(df.collect().await?)
        })
    }

    /// The catalogue's schema.
    pub fn catalog_schema(&self) -> Result<arrow_schema::SchemaRef, QueryError> {
        let t = self.runtime.block_on(self.ctx.table_provider("catalog"))?;
        Ok(t.schema())
    }

    /// The catalogue row to use for a TARGETID: (healpix, survey, program, z) of the
    /// `zcat_primary` row, or of the given survey/program.
    pub fn locate(
        &self,
        targetid: i64,
        survey: Option<&str>,
        program: Option<&str>,
    ) -> Result<Option<(u64, String, String, f64)>, QueryError> {
        let esc = |s: &str| s.replace('\'', "''");
        let mut q = format!("SELECT healpix, survey, program, z FROM catalog WHERE targetid = {targetid}");
        if let Some(s) = survey {
            q.push_str(&format!(" AND survey = '{}'", esc(s)));
        }
        if let Some(p) = program {
            q.push_str(&format!(" AND program = '{}'", esc(p)));
        }
        q.push_str(" ORDER BY zcat_primary DESC, survey, program LIMIT 1");
        let rows = self.sql(&q)?;
        let Some(b) = rows.iter().find(|b| b.num_rows() > 0) else { return Ok(None) };
        let cast =
            |i: usize, dt: &DataType| arrow_cast::cast(b.column(i), dt).map_err(|e| QueryError::arrow("reading the catalogue row", e));
        let (hp, s, p, z) =
            (cast(0, &DataType::Int64)?, cast(1, &DataType::Utf8)?, cast(2, &DataType::Utf8)?, cast(3, &DataType::Float64)?);
        let hp = hp.as_primitive::<arrow_array::types::Int64Type>().value(0) as u64;
        let s = s.as_string::<i32>().value(0).to_string();
        let p = p.as_string::<i32>().value(0).to_string();
        let z = z.as_primitive::<Float64Type>();
        Ok(Some((hp, s, p, if z.is_null(0) { f64::NAN } else { z.value(0) })))
    }

    /// The spectrum of a TARGETID (primary row unless survey/program are given).
    pub fn spectrum(
        &self,
        targetid: i64,
        survey: Option<&str>,
        program: Option<&str>,
    ) -> Result<Option<ard_store::spectra::Spectrum>, QueryError> {
        let Some((pixel, s, p, _)) = self.locate(targetid, survey, program)? else { return Ok(None) };
        // The spectra of the version the leaf names (see ard_store::pixel).
        let Some(version) = ard_store::pixel::PixelVersion::of_leaf(&self.layout, pixel)? else { return Ok(None) };
        Ok(ard_store::spectra::read_spectrum(&version.spectra_path(&self.layout), targetid, Some(&s), Some(&p))?)
    }
}
