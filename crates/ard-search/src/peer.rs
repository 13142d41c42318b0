//! Running the FAISS comparison peer (`scripts/peers/faiss_knn.py`, faiss-cpu
//! `IndexFlatIP` on normalised float32 copies) on the same vectors, for the tests and the
//! benchmark. FAISS is a peer only: nothing of it is linked.

use std::path::Path;

use half::f16;

use crate::SearchError;

/// What the peer reported.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct FaissResult {
    /// faiss version.
    pub faiss: String,
    /// OpenMP threads it used.
    pub threads: usize,
    /// Seconds to build the index.
    pub t_add: f64,
    /// Seconds for a 1-query search (best of its repeats).
    pub t_search_1: f64,
    /// Seconds for the whole batch.
    pub t_search_batch: f64,
    /// Queries in the batch.
    pub nq: usize,
    /// Bytes of the index (n × d × 4).
    pub index_bytes: u64,
    /// Peak resident memory of the Python process.
    pub peak_rss_bytes: u64,
    /// Top-k ids per query (absent with timings only).
    #[serde(default)]
    pub ids: Vec<Vec<i64>>,
    /// Top-k scores per query.
    #[serde(default)]
    pub scores: Vec<Vec<f32>>,
}

/// Writes `vectors` (row-major n × d Float16) and `queries` (f32) as raw little-endian
/// files in `dir` and runs the peer with `python`; `ids` false asks for timings only.
pub fn run_faiss(
    python: &Path,
    script: &Path,
    dir: &Path,
    vectors: &[f16],
    dim: usize,
    queries: &[Vec<f32>],
    k: usize,
    ids: bool,
) -> Result<FaissResult, SearchError> {
    let vpath = dir.join("vectors.f16");
    let qpath = dir.join("queries.f32");
    std::fs::write(&vpath, bytemuck::cast_slice::<f16, u8>(vectors)).map_err(|e| SearchError::io(&vpath, e))?;
    let q: Vec<f32> = queries.iter().flatten().copied().collect();
    std::fs::write(&qpath, bytemuck::cast_slice::<f32, u8>(&q)).map_err(|e| SearchError::io(&qpath, e))?;
    let n = vectors.len() / dim.max(1);
    let mut cmd = std::process::Command::new(python);
    cmd.arg(script).args(["--vectors", &vpath.to_string_lossy(), "--queries", &qpath.to_string_lossy()]).args([
        "--n",
        &n.to_string(),
        "--d",
        &dim.to_string(),
        "--k",
        &k.to_string(),
    ]);
    if !ids {
        cmd.arg("--no-ids");
    }
    let out = cmd.output().map_err(|e| SearchError::io(python, e))?;
    let _ = std::fs::remove_file(&vpath);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| SearchError::Peer { stderr: String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("").to_string() })?;
    serde_json::from_str(line).map_err(SearchError::PeerOutput)
}
