//! Loading an embedding column from the catalogue's Parquet leaves (reading only the
//! key columns and that column), with a cache file so that later processes start in
//! the time it takes to read the matrix from disk.
//!
//! The cache (`<user cache>/knn/<ARD id>/<column>.knn`, see [`cache_path`]; never inside
//! the ARD, which readers of a shared ARD must not write to) is a small JSON header — the catalogue's
//! fingerprint (every leaf's name, size and modification time), the row count, the
//! dimension and the distinct (survey, program) pairs — followed by the TARGETIDs, a
//! (survey, program) code and the primary flag per row, and the Float16 matrix as raw
//! little-endian bytes. A changed catalogue changes the fingerprint and the cache is
//! rebuilt; where the cache folder is not writable, searches simply run without one.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float16Type, Float32Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use half::f16;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use sha2::{Digest, Sha256};

use crate::index::{EmbeddingIndex, RowKey};
use crate::SearchError;

const MAGIC: &[u8; 8] = b"ARDKNN01";

/// The catalogue leaves (`catalog/desi_ard/dataset/Norder=6/...parquet`).
fn leaves(ard: &Path) -> Result<Vec<PathBuf>, SearchError> {
    let dir = ard_store::ArdLayout::new(ard).catalog().join("dataset");
    let files = ard_store::layout::list_pixel_files(&dir, "parquet").map_err(|e| SearchError::io(&dir, e))?;
    if files.is_empty() {
        return Err(SearchError::NoPartitions { ard: ard.to_path_buf() });
    }
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

fn fingerprint(leaves: &[PathBuf], column: &str) -> Result<String, SearchError> {
    let mut h = Sha256::new();
    h.update(column.as_bytes());
    for p in leaves {
        let m = std::fs::metadata(p).map_err(|e| SearchError::io(p, e))?;
        let mtime = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
        h.update(format!("|{}|{}|{}", p.display(), m.len(), mtime).as_bytes());
    }
    Ok(format!("{:x}", h.finalize())[..32].to_string())
}

/// The embedding columns a catalogue has (FixedSizeList of Float16 or Float32).
pub fn embedding_columns(ard: &Path) -> Result<Vec<(String, usize)>, SearchError> {
    let leaf = leaves(ard)?.remove(0);
    let file = std::fs::File::open(&leaf).map_err(|e| SearchError::io(&leaf, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| SearchError::Store(ard_store::StoreError::parquet(&leaf, e)))?;
    Ok(b.schema()
        .fields()
        .iter()
        .filter_map(|f| match f.data_type() {
            DataType::FixedSizeList(item, n) if matches!(item.data_type(), DataType::Float16 | DataType::Float32) => {
                Some((f.name().clone(), *n as usize))
            }
            _ => None,
        })
        .collect())
}

fn read_leaf(path: &Path, column: &str) -> Result<Vec<RecordBatch>, SearchError> {
    let bad = |e: parquet::errors::ParquetError| SearchError::Store(ard_store::StoreError::parquet(path, e));
    let file = std::fs::File::open(path).map_err(|e| SearchError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(bad)?;
    let schema = builder.schema().clone();
    let mut roots = Vec::new();
    for name in ["targetid", "survey", "program", "zcat_primary", column] {
        match schema.index_of(name) {
            Ok(i) => roots.push(i),
            Err(_) if name == "zcat_primary" => {}
            Err(_) => {
                let embedding_columns = if name == column { embedding_columns_of(&schema) } else { Vec::new() };
                return Err(SearchError::NoColumn { column: name.to_string(), embedding_columns });
            }
        }
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).with_batch_size(65_536).build().map_err(bad)?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| SearchError::Store(ard_store::StoreError::arrow(path.display().to_string(), e)))
}

fn embedding_columns_of(schema: &arrow_schema::Schema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .filter(|f| matches!(f.data_type(), DataType::FixedSizeList(item, _) if matches!(item.data_type(), DataType::Float16 | DataType::Float32)))
        .map(|f| f.name().clone())
        .collect()
}

/// Reads `column` from every leaf (no cache).
pub fn load_from_catalog(ard: &Path, column: &str) -> Result<EmbeddingIndex, SearchError> {
    let leaves = leaves(ard)?;
    let per_leaf: Vec<Result<(Vec<(RowKey, bool, Vec<f16>)>, usize, usize), SearchError>> = {
        use rayon::prelude::*;
        leaves
            .par_iter()
            .map(|p| {
                let mut rows = Vec::new();
                let mut n_null = 0;
                let mut dim = 0;
                for b in read_leaf(p, column)? {
                    let c = ard_store::catalog::Columns::new(p, &b);
                    let (tid, survey, program) = (c.i64("targetid")?, c.str("survey")?, c.str("program")?);
                    let primary = c.bool("zcat_primary").ok();
                    let not_embedding =
                        |found: &DataType| SearchError::NotEmbedding { path: p.clone(), column: column.to_string(), found: found.clone() };
                    let array = b
                        .column_by_name(column)
                        .ok_or_else(|| SearchError::NoColumn { column: column.to_string(), embedding_columns: Vec::new() })?;
                    let emb = array.as_fixed_size_list_opt().cloned().ok_or_else(|| not_embedding(array.data_type()))?;
                    dim = emb.value_length() as usize;
                    for i in 0..b.num_rows() {
                        if emb.is_null(i) {
                            n_null += 1;
                            continue;
                        }
                        let v = emb.value(i);
                        let values: Vec<f16> = match v.data_type() {
                            DataType::Float16 => v.as_primitive::<Float16Type>().values().to_vec(),
                            DataType::Float32 => v.as_primitive::<Float32Type>().values().iter().map(|x| f16::from_f32(*x)).collect(),
                            _ => return Err(not_embedding(array.data_type())),
                        };
                        if v.null_count() > 0 {
                            n_null += 1;
                            continue;
                        }
                        let key =
                            RowKey { targetid: tid.value(i), survey: survey.value(i).to_string(), program: program.value(i).to_string() };
                        rows.push((key, primary.as_ref().is_some_and(|a| a.value(i)), values));
                    }
                }
                Ok((rows, n_null, dim))
            })
            .collect()
    };
    let mut rows = Vec::new();
    let mut n_null = 0;
    let mut dim = 0;
    for r in per_leaf {
        let (r, n, d) = r?;
        rows.extend(r);
        n_null += n;
        dim = dim.max(d);
    }
    EmbeddingIndex::new(column, dim, rows, n_null)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    fingerprint: String,
    column: String,
    rows: usize,
    dim: usize,
    n_null: usize,
    pairs: Vec<(String, String)>,
}

/// Where the search cache of `column` of the ARD at `ard` lives: the user's cache folder
/// ([`ard_core::cache_dir`]), under a hash of the ARD's absolute path.
pub fn cache_path(ard: &Path, column: &str) -> PathBuf {
    use sha2::{Digest, Sha256};
    let abs = ard.canonicalize().unwrap_or_else(|_| ard.to_path_buf());
    let id = format!("{:x}", Sha256::digest(abs.to_string_lossy().as_bytes()));
    ard_core::cache_dir().join("knn").join(&id[..16]).join(format!("{column}.knn"))
}

fn write_cache(path: &Path, index: &EmbeddingIndex, fp: &str) -> std::io::Result<()> {
    let mut codes: BTreeMap<(String, String), u16> = BTreeMap::new();
    for k in &index.keys {
        let n = codes.len() as u16;
        codes.entry((k.survey.clone(), k.program.clone())).or_insert(n);
    }
    let mut pairs = vec![(String::new(), String::new()); codes.len()];
    for (p, c) in &codes {
        pairs[*c as usize] = p.clone();
    }
    let header =
        Header { fingerprint: fp.into(), column: index.column.clone(), rows: index.len(), dim: index.dim, n_null: index.n_null, pairs };
    let hj = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("knn.tmp{}", std::process::id()));
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        f.write_all(MAGIC)?;
        f.write_all(&(hj.len() as u64).to_le_bytes())?;
        f.write_all(&hj)?;
        for k in &index.keys {
            f.write_all(&k.targetid.to_le_bytes())?;
        }
        for k in &index.keys {
            f.write_all(&codes[&(k.survey.clone(), k.program.clone())].to_le_bytes())?;
        }
        f.write_all(&index.primary.iter().map(|p| u8::from(*p)).collect::<Vec<_>>())?;
        f.write_all(bytemuck::cast_slice(&index.vectors))?;
        f.flush()?;
    }
    std::fs::rename(&tmp, path)
}

fn read_cache(path: &Path, fp: &str) -> Option<EmbeddingIndex> {
    let mut f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).ok()?);
    let mut magic = [0u8; 8];
    f.read_exact(&mut magic).ok()?;
    if &magic != MAGIC {
        return None;
    }
    let mut len = [0u8; 8];
    f.read_exact(&mut len).ok()?;
    let mut hj = vec![0u8; u64::from_le_bytes(len) as usize];
    f.read_exact(&mut hj).ok()?;
    let h: Header = serde_json::from_slice(&hj).ok()?;
    if h.fingerprint != fp {
        return None;
    }
    let mut ids = vec![0u8; h.rows * 8];
    f.read_exact(&mut ids).ok()?;
    let mut codes = vec![0u8; h.rows * 2];
    f.read_exact(&mut codes).ok()?;
    let mut primary = vec![0u8; h.rows];
    f.read_exact(&mut primary).ok()?;
    let mut vectors = vec![f16::ZERO; h.rows * h.dim];
    f.read_exact(bytemuck::cast_slice_mut(&mut vectors)).ok()?;
    let keys = ids
        .chunks_exact(8)
        .zip(codes.chunks_exact(2))
        .map(|(t, c)| {
            let (s, p) = h.pairs.get(u16::from_le_bytes([c[0], c[1]]) as usize).cloned().unwrap_or_default();
            RowKey { targetid: i64::from_le_bytes(t.try_into().unwrap_or([0; 8])), survey: s, program: p }
        })
        .collect();
    Some(EmbeddingIndex::from_parts(&h.column, h.dim, keys, primary.iter().map(|b| *b != 0).collect(), vectors, h.n_null))
}

/// Loads `column` of the ARD's catalogue: from the cache when it matches the catalogue,
/// else from the leaves (then writing the cache where the cache folder is writable). Returns the
/// index and whether the cache was used.
pub fn load(ard: &Path, column: &str) -> Result<(EmbeddingIndex, bool), SearchError> {
    let leaves = leaves(ard)?;
    let fp = fingerprint(&leaves, column)?;
    let path = cache_path(ard, column);
    if let Some(ix) = read_cache(&path, &fp) {
        return Ok((ix, true));
    }
    let ix = load_from_catalog(ard, column)?;
    if let Err(e) = write_cache(&path, &ix, &fp) {
        tracing::info!("no search cache written to {}: {e}", path.display());
    }
    Ok((ix, false))
}
