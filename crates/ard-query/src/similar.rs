//! Similarity search from the query layer: [`ArdQuery::similar`] (with an SQL
//! pre-filter and the catalogue columns joined on) and the SQL table function
//! `similar(column, targetid, k [, survey, program])` returning
//! (targetid, survey, program, score, rank), so that a search can be joined, filtered
//! and aggregated like any table:
//!
//! ```sql
//! SELECT s.targetid, s.score, c.z FROM similar('emb_pca', 39633345008634465, 100) s
//!   JOIN catalog c USING (targetid, survey, program) ORDER BY s.rank
//! ```
//!
//! The embedding column is loaded once per session (and cached on disk by
//! [`ard_search::load`]) and shared by every later search.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ard_search::{EmbeddingIndex, RowKey};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Float32Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::Expr;
use datafusion::scalar::ScalarValue;

use crate::{ArdQuery, QueryError};

/// Embedding indexes loaded in this session, by column.
#[derive(Debug, Default)]
pub(crate) struct IndexCache {
    ard: std::path::PathBuf,
    loaded: Mutex<HashMap<String, Arc<EmbeddingIndex>>>,
}

impl IndexCache {
    pub(crate) fn new(ard: &std::path::Path) -> Self {
        IndexCache { ard: ard.to_path_buf(), loaded: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn get(&self, column: &str) -> Result<Arc<EmbeddingIndex>, QueryError> {
        if !column.starts_with("emb_") {
            return Err(QueryError::NotEmbeddingColumn { column: column.to_string() });
        }
        let mut map = self.loaded.lock().map_err(|_| QueryError::IndexCachePoisoned)?;
        if let Some(ix) = map.get(column) {
            return Ok(ix.clone());
        }
        let (ix, _) = ard_search::load::load(&self.ard, column)?;
        let ix = Arc::new(ix);
        map.insert(column.to_string(), ix.clone());
        Ok(ix)
    }
}

/// One object to search from: a TARGETID, and optionally which coadd of it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarQuery {
    /// TARGETID.
    pub targetid: i64,
    /// Survey of the coadd (default: the primary row's).
    pub survey: Option<String>,
    /// Program of the coadd.
    pub program: Option<String>,
}

/// A similarity search request.
#[derive(Debug, Clone)]
pub struct SimilarRequest {
    /// Embedding column.
    pub column: String,
    /// Objects to search from.
    pub queries: Vec<SimilarQuery>,
    /// Neighbours per object.
    pub k: usize,
    /// SQL predicate on `catalog` restricting the rows searched (pre-filter).
    pub filter: Option<String>,
    /// Leave the query row itself out of its result.
    pub exclude_self: bool,
}

/// The neighbours of each query, best first.
#[derive(Debug, Clone)]
pub struct SimilarResult {
    /// Per query: its row key, then (neighbour key, cosine).
    pub per_query: Vec<(RowKey, Vec<(RowKey, f32)>)>,
    /// Rows the search covered (after the filter).
    pub rows_searched: usize,
    /// Rows whose embedding is null (never returned).
    pub rows_null: usize,
}

fn row_of(ix: &EmbeddingIndex, q: &SimilarQuery) -> Result<usize, QueryError> {
    if ix.is_empty() {
        return Err(QueryError::EmptyEmbedding { column: ix.column.clone() });
    }
    ix.find(q.targetid, q.survey.as_deref(), q.program.as_deref()).ok_or_else(|| QueryError::NoEmbedding {
        targetid: q.targetid,
        survey: q.survey.clone(),
        program: q.program.clone(),
        column: ix.column.clone(),
    })
}

impl ArdQuery {
    /// The embedding column `column`, loaded once per session.
    pub fn embedding_index(&self, column: &str) -> Result<Arc<EmbeddingIndex>, QueryError> {
        self.indexes.get(column)
    }

    /// Exact cosine k-nearest neighbours of each query object in `req.column`.
    pub fn similar(&self, req: &SimilarRequest) -> Result<SimilarResult, QueryError> {
        let ix = self.embedding_index(&req.column)?;
        let allowed = match &req.filter {
            Some(w) => {
                let keys = self
                    .sql(&format!("SELECT targetid, survey, program FROM catalog WHERE {w}"))
                    .map_err(|e| QueryError::Where { clause: w.clone(), source: Box::new(e) })?;
                let mut set = HashSet::new();
                for b in &keys {
                    // The leaves' types come from disk: cast rather than downcast, so a
                    // foreign width is an error (or converted), never a panic.
                    let cast = |i: usize, dt: &DataType| {
                        arrow_cast::cast(b.column(i), dt).map_err(|e| QueryError::arrow("reading the query rows", e))
                    };
                    let (t, s, p) = (cast(0, &DataType::Int64)?, cast(1, &DataType::Utf8)?, cast(2, &DataType::Utf8)?);
                    let (t, s, p) = (t.as_primitive::<Int64Type>(), s.as_string::<i32>(), p.as_string::<i32>());
                    for i in 0..b.num_rows() {
                        set.insert(RowKey { targetid: t.value(i), survey: s.value(i).to_string(), program: p.value(i).to_string() });
                    }
                }
                Some(ix.keys.iter().map(|k| set.contains(k)).collect::<Vec<bool>>())
            }
            None => None,
        };
        let rows: Vec<usize> = req.queries.iter().map(|q| row_of(&ix, q)).collect::<Result<_, _>>()?;
        let vectors: Vec<Vec<f32>> = rows.iter().map(|&r| ix.query_of(r)).collect();
        let k = req.k + usize::from(req.exclude_self);
        let found = ix.search(&vectors, k, allowed.as_deref())?;
        let per_query = rows
            .iter()
            .zip(found)
            .map(|(&r, ns)| {
                let list: Vec<(RowKey, f32)> = ns
                    .into_iter()
                    .filter(|n| !(req.exclude_self && n.row == r))
                    .take(req.k)
                    .map(|n| (ix.keys[n.row].clone(), n.score))
                    .collect();
                (ix.keys[r].clone(), list)
            })
            .collect();
        let rows_searched = allowed.as_ref().map_or(ix.len(), |a| a.iter().filter(|x| **x).count());
        Ok(SimilarResult { per_query, rows_searched, rows_null: ix.n_null })
    }

    /// [`ArdQuery::similar`] as a table: `targetid`, `score`, then `query_targetid` and
    /// `rank` (1 = nearest), `survey`, `program`, and the catalogue `columns` joined on;
    /// nearest first for each query, queries in the order given.
    pub fn similar_table(&self, req: &SimilarRequest, columns: &[String]) -> Result<(Vec<RecordBatch>, SimilarResult), QueryError> {
        let res = self.similar(req)?;
        let mut tid = Vec::new();
        let mut score = Vec::new();
        let mut qid = Vec::new();
        let mut qindex = Vec::new();
        let mut rank = Vec::new();
        let mut survey = Vec::new();
        let mut program = Vec::new();
        for (qi, (q, list)) in res.per_query.iter().enumerate() {
            for (r, (key, s)) in list.iter().enumerate() {
                tid.push(key.targetid);
                score.push(*s);
                qid.push(q.targetid);
                qindex.push(qi as i32);
                rank.push(r as i32 + 1);
                survey.push(key.survey.clone());
                program.push(key.program.clone());
            }
        }
        let batch = RecordBatch::try_from_iter(vec![
            ("targetid", Arc::new(Int64Array::from(tid)) as ArrayRef),
            ("score", Arc::new(Float32Array::from(score)) as ArrayRef),
            ("query_targetid", Arc::new(Int64Array::from(qid)) as ArrayRef),
            ("query_index", Arc::new(Int32Array::from(qindex)) as ArrayRef),
            ("rank", Arc::new(Int32Array::from(rank)) as ArrayRef),
            ("survey", Arc::new(StringArray::from(survey)) as ArrayRef),
            ("program", Arc::new(StringArray::from(program)) as ArrayRef),
        ])
        .map_err(|e| QueryError::arrow("the similar() result", e))?;
        let name = format!("similar_result_{}", std::process::id());
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        self.ctx.register_table(name.as_str(), Arc::new(table))?;
        let extra: String = columns.iter().map(|c| format!(", c.\"{}\"", c.replace('"', ""))).collect();
        let sql = format!(
            "SELECT n.targetid, n.score, n.query_targetid, n.rank, n.survey, n.program{extra} FROM {name} n \
             LEFT JOIN catalog c ON c.targetid = n.targetid AND c.survey = n.survey AND c.program = n.program \
             ORDER BY n.query_index, n.rank"
        );
        let out = self.sql(&sql);
        let _ = self.ctx.deregister_table(name.as_str());
        Ok((out?, res))
    }
}

/// The `similar(column, targetid, k [, survey, program])` table function.
#[derive(Debug)]
pub(crate) struct SimilarFunction {
    pub(crate) indexes: Arc<IndexCache>,
}

fn literal(e: &Expr) -> Option<ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v.clone()),
        Expr::Negative(inner) => match inner.as_ref() {
            Expr::Literal(v, _) => v.arithmetic_negate().ok(),
            _ => None,
        },
        _ => None,
    }
}

fn literal_string(e: &Expr, what: &str) -> datafusion::error::Result<String> {
    match literal(e) {
        Some(ScalarValue::Utf8(Some(s))) | Some(ScalarValue::LargeUtf8(Some(s))) | Some(ScalarValue::Utf8View(Some(s))) => Ok(s),
        _ => datafusion::common::plan_err!("similar: {what} must be a string literal, got {e}"),
    }
}

fn literal_i64(e: &Expr, what: &str) -> datafusion::error::Result<i64> {
    match literal(e).map(|v| v.cast_to(&DataType::Int64)) {
        Some(Ok(ScalarValue::Int64(Some(x)))) => Ok(x),
        _ => datafusion::common::plan_err!("similar: {what} must be an integer literal, got {e}"),
    }
}

impl TableFunctionImpl for SimilarFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if !(exprs.len() == 3 || exprs.len() == 5) {
            return datafusion::common::plan_err!(
                "similar(column, targetid, k [, survey, program]) takes 3 or 5 arguments, got {}",
                exprs.len()
            );
        }
        let column = literal_string(&exprs[0], "column")?;
        let targetid = literal_i64(&exprs[1], "targetid")?;
        let k = literal_i64(&exprs[2], "k")?;
        if !(1..=1_000_000).contains(&k) {
            return datafusion::common::plan_err!("similar: k must be between 1 and 1000000, got {k}");
        }
        let (survey, program) = if exprs.len() == 5 {
            (Some(literal_string(&exprs[3], "survey")?), Some(literal_string(&exprs[4], "program")?))
        } else {
            (None, None)
        };
        let plan_err = |e: QueryError| datafusion::error::DataFusionError::External(Box::new(e));
        let ix = self.indexes.get(&column).map_err(plan_err)?;
        let row = row_of(&ix, &SimilarQuery { targetid, survey, program }).map_err(plan_err)?;
        let found =
            ix.search(&[ix.query_of(row)], k as usize, None).map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        let list = found.into_iter().next().unwrap_or_default();
        let schema = Arc::new(Schema::new(vec![
            Field::new("targetid", DataType::Int64, false),
            Field::new("survey", DataType::Utf8, false),
            Field::new("program", DataType::Utf8, false),
            Field::new("score", DataType::Float32, false),
            Field::new("rank", DataType::Int32, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(list.iter().map(|n| ix.keys[n.row].targetid))),
                Arc::new(StringArray::from_iter_values(list.iter().map(|n| ix.keys[n.row].survey.as_str()))),
                Arc::new(StringArray::from_iter_values(list.iter().map(|n| ix.keys[n.row].program.as_str()))),
                Arc::new(Float32Array::from_iter_values(list.iter().map(|n| n.score))),
                Arc::new(Int32Array::from_iter_values((1..=list.len() as i32).collect::<Vec<_>>())),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
