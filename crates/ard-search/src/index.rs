//! The in-memory index: one embedding column as a dense Float16 matrix, and the exact
//! cosine top-k search over it.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use half::f16;
use rayon::prelude::*;

use crate::kernel::dot_2x4;
use crate::SearchError;

/// The catalogue key of a row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    /// TARGETID.
    pub targetid: i64,
    /// Survey.
    pub survey: String,
    /// Program.
    pub program: String,
}

/// One neighbour: a row of the index and its cosine similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    /// Row of the index.
    pub row: usize,
    /// Cosine similarity.
    pub score: f32,
}

/// Best first: higher score, then lower row (so ties come out in catalogue-key order).
fn better(a: &Neighbour, b: &Neighbour) -> Ordering {
    b.score.total_cmp(&a.score).then(a.row.cmp(&b.row))
}

/// Heap entry ordered so that the heap's top is the worst neighbour kept.
#[derive(Debug, Clone, Copy)]
struct Worst(Neighbour);

impl PartialEq for Worst {
    fn eq(&self, o: &Self) -> bool {
        better(&self.0, &o.0) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Worst {
    fn cmp(&self, o: &Self) -> Ordering {
        better(&self.0, &o.0)
    }
}

/// A bounded top-k: keeps the k best neighbours seen.
struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK { k, heap: BinaryHeap::with_capacity(k + 1) }
    }
    fn push(&mut self, n: Neighbour) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Worst(n));
        } else if let Some(top) = self.heap.peek() {
            if better(&n, &top.0) == Ordering::Less {
                self.heap.pop();
                self.heap.push(Worst(n));
            }
        }
    }
    /// The score a candidate must reach to be considered (−∞ until k are kept).
    fn threshold(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.heap.peek().map_or(f32::NEG_INFINITY, |w| w.0.score)
        }
    }
    fn merge(mut self, other: TopK) -> TopK {
        for w in other.heap {
            self.push(w.0);
        }
        self
    }
    fn into_sorted(self) -> Vec<Neighbour> {
        let mut v: Vec<Neighbour> = self.heap.into_iter().map(|w| w.0).collect();
        v.sort_by(better);
        v
    }
}

/// One embedding column of the catalogue: the rows whose embedding is not null, sorted
/// by key, their vectors kept as Float16 (half the memory of f32) with f32 norms.
#[derive(Debug, Clone)]
pub struct EmbeddingIndex {
    /// The column.
    pub column: String,
    /// Vector length.
    pub dim: usize,
    /// Row keys, sorted.
    pub keys: Vec<RowKey>,
    /// Whether each row is its TARGETID's primary coadd (`zcat_primary`).
    pub primary: Vec<bool>,
    /// Row-major `keys.len() × dim` vectors.
    pub vectors: Vec<f16>,
    /// 1 / ‖vector‖ (0 for an all-zero vector, which then scores 0 against anything).
    pub inv_norm: Vec<f32>,
    /// Catalogue rows whose embedding was null (not searchable).
    pub n_null: usize,
    position: HashMap<RowKey, usize>,
}

/// Rows processed together by one task of the parallel scan.
const CHUNK_ROWS: usize = 4096;
/// Rows kept hot in cache while every query group passes over them.
const BLOCK_ROWS: usize = 64;

impl EmbeddingIndex {
    /// An index from rows (key, primary flag, vector); rows are sorted by key, and a
    /// vector of the wrong length is an error naming the row.
    pub fn new(column: &str, dim: usize, mut rows: Vec<(RowKey, bool, Vec<f16>)>, n_null: usize) -> Result<Self, SearchError> {
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let mut keys = Vec::with_capacity(rows.len());
        let mut primary = Vec::with_capacity(rows.len());
        let mut vectors = Vec::with_capacity(rows.len() * dim);
        for (k, p, v) in rows {
            if v.len() != dim {
                return Err(SearchError::VectorLength { column: column.to_string(), targetid: k.targetid, found: v.len(), expected: dim });
            }
            vectors.extend_from_slice(&v);
            keys.push(k);
            primary.push(p);
        }
        Ok(Self::from_parts(column, dim, keys, primary, vectors, n_null))
    }

    /// An index from its parts (keys sorted; `vectors` row-major `keys.len() × dim`),
    /// computing the norms.
    pub fn from_parts(column: &str, dim: usize, keys: Vec<RowKey>, primary: Vec<bool>, vectors: Vec<f16>, n_null: usize) -> Self {
        let inv_norm = vectors
            .par_chunks(dim.max(1))
            .map(|v| {
                let n = v.iter().map(|x| x.to_f32() * x.to_f32()).sum::<f32>().sqrt();
                if n > 0.0 && n.is_finite() {
                    1.0 / n
                } else {
                    0.0
                }
            })
            .collect();
        let position = keys.iter().enumerate().map(|(i, k)| (k.clone(), i)).collect();
        EmbeddingIndex { column: column.into(), dim, keys, primary, vectors, inv_norm, n_null, position }
    }

    /// Searchable rows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no row is searchable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The vector of a row.
    pub fn vector(&self, row: usize) -> &[f16] {
        &self.vectors[row * self.dim..(row + 1) * self.dim]
    }

    /// The row of a TARGETID: the given survey/program, else its primary row (else its
    /// only or first row).
    pub fn find(&self, targetid: i64, survey: Option<&str>, program: Option<&str>) -> Option<usize> {
        if let (Some(s), Some(p)) = (survey, program) {
            return self.position.get(&RowKey { targetid, survey: s.into(), program: p.into() }).copied();
        }
        let start = self.keys.partition_point(|k| k.targetid < targetid);
        let end = self.keys.partition_point(|k| k.targetid <= targetid);
        let candidates: Vec<usize> = (start..end)
            .filter(|&r| survey.is_none_or(|s| self.keys[r].survey == s) && program.is_none_or(|p| self.keys[r].program == p))
            .collect();
        candidates.iter().copied().find(|&r| self.primary[r]).or(candidates.first().copied())
    }

    /// The query vector of a row, widened to f32.
    pub fn query_of(&self, row: usize) -> Vec<f32> {
        self.vector(row).iter().map(|x| x.to_f32()).collect()
    }

    /// Exact top-`k` rows by cosine similarity for each query (f32 vectors of length
    /// `dim`), best first, ties by row (= key) order; only rows with `allowed[row]` when a
    /// filter is given. All queries share one pass over the matrix, split across the
    /// rayon pool's threads. `k` larger than the rows allowed returns them all.
    pub fn search(&self, queries: &[Vec<f32>], k: usize, allowed: Option<&[bool]>) -> Result<Vec<Vec<Neighbour>>, SearchError> {
        for (i, q) in queries.iter().enumerate() {
            if q.len() != self.dim {
                return Err(SearchError::QueryLength { query: i, found: q.len(), column: self.column.clone(), expected: self.dim });
            }
            if q.iter().any(|x| !x.is_finite()) {
                return Err(SearchError::NonFiniteQuery { query: i });
            }
        }
        if let Some(a) = allowed {
            if a.len() != self.len() {
                return Err(SearchError::FilterLength { found: a.len(), expected: self.len() });
            }
        }
        if queries.is_empty() {
            return Ok(vec![]);
        }
        let qnorm: Vec<f32> = queries
            .iter()
            .map(|q| {
                let n = q.iter().map(|x| x * x).sum::<f32>().sqrt();
                if n > 0.0 {
                    1.0 / n
                } else {
                    0.0
                }
            })
            .collect();
        // Queries in groups of four (the kernel's tile), the last group padded.
        let zero = vec![0f32; self.dim];
        let groups: Vec<[&[f32]; 4]> =
            queries.chunks(4).map(|g| std::array::from_fn(|i| g.get(i).map(|q| q.as_slice()).unwrap_or(zero.as_slice()))).collect();
        let nq = queries.len();
        let dim = self.dim;
        let n = self.len();
        let tops = (0..n.div_ceil(CHUNK_ROWS))
            .into_par_iter()
            .map(|c| {
                let mut tops: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();
                // Most candidates lose to the k-th best; compare with it before the heap.
                let mut bar = vec![f32::NEG_INFINITY; nq];
                let (r0, r1) = (c * CHUNK_ROWS, ((c + 1) * CHUNK_ROWS).min(n));
                let rows: Vec<usize> = (r0..r1).filter(|&r| allowed.is_none_or(|a| a[r])).collect();
                let mut out = [[0f32; 4]; 2];
                // Cache blocking as in a matrix product: a block of rows stays in L2 while
                // each group of four queries, held in L1, passes over it.
                for block in rows.chunks(BLOCK_ROWS) {
                    for (g, qs) in groups.iter().enumerate() {
                        for pair in block.chunks(2) {
                            let a = pair[0];
                            let b = *pair.get(1).unwrap_or(&a);
                            let ra = &self.vectors[a * dim..(a + 1) * dim];
                            let rb = &self.vectors[b * dim..(b + 1) * dim];
                            dot_2x4([ra, rb], *qs, &mut out);
                            for (slot, &row) in pair.iter().enumerate() {
                                for j in 0..4 {
                                    let qi = g * 4 + j;
                                    if qi < nq {
                                        let score = out[slot][j] * self.inv_norm[row] * qnorm[qi];
                                        if score >= bar[qi] {
                                            tops[qi].push(Neighbour { row, score });
                                            bar[qi] = tops[qi].threshold();
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                tops
            })
            .reduce(|| (0..nq).map(|_| TopK::new(k)).collect(), |a, b| a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect());
        Ok(tops.into_iter().map(TopK::into_sorted).collect())
    }
}

/// The reference the fast search is tested against: every score one at a time in
/// scalar f64, sorted in full.
pub fn naive_search(index: &EmbeddingIndex, query: &[f32], k: usize, allowed: Option<&[bool]>) -> Vec<(usize, f64)> {
    let qn = query.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let mut all: Vec<(usize, f64)> = (0..index.len())
        .filter(|&r| allowed.is_none_or(|a| a[r]))
        .map(|r| {
            let v = index.vector(r);
            let dot: f64 = v.iter().zip(query).map(|(x, y)| x.to_f64() * *y as f64).sum();
            let vn = v.iter().map(|x| x.to_f64().powi(2)).sum::<f64>().sqrt();
            (r, if vn > 0.0 && qn > 0.0 { dot / (vn * qn) } else { 0.0 })
        })
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}
