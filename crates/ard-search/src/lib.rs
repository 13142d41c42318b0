//! `ard-search` owns similarity search over the ARD's embedding columns (`emb_pca`,
//! `emb_specformer`, `emb_astroclip`): exact k-nearest neighbours by cosine similarity.
//!
//! An embedding column is held as a dense Float16 matrix — half the memory of the f32
//! copy a FAISS `IndexFlatIP` keeps — with one f32 norm per row ([`index`]). A search
//! scores every allowed row against a batch of queries in one pass, widening Float16 to
//! f32 in SIMD registers inside the inner product and tiling two rows × four queries
//! ([`kernel`]), split over all cores, each query keeping a bounded top-k. It is exact
//! by construction (every row is scored; nothing is approximated), and tested against a
//! scalar f64 reference. [`load`] reads the column from the catalogue's Parquet leaves
//! (only the key columns and that column) and keeps a cache file for later processes.
#![deny(missing_docs)]

pub mod index;
pub mod kernel;
pub mod load;
pub mod peer;

pub use index::{naive_search, EmbeddingIndex, Neighbour, RowKey};

/// Errors of the search.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The directory holds no catalogue leaves.
    #[error("{}: no catalogue partitions (is this an ARD? run `desi-ard ingest` first)", ard.display())]
    NoPartitions {
        /// The directory given as the ARD.
        ard: std::path::PathBuf,
    },
    /// A catalogue leaf could not be read.
    #[error(transparent)]
    Store(#[from] ard_store::StoreError),
    /// The catalogue has no such column.
    #[error("the catalogue has no column {column:?}{}", if embedding_columns.is_empty() { String::new() } else { format!(" (embedding columns: {})", embedding_columns.join(", ")) })]
    NoColumn {
        /// The column asked for.
        column: String,
        /// The embedding columns it does have (listed when an embedding was asked for).
        embedding_columns: Vec<String>,
    },
    /// The column is not an embedding (a fixed-size list of Float16 or Float32).
    #[error("{}: {column} holds {found}, not a fixed-size list of Float16 or Float32", path.display())]
    NotEmbedding {
        /// The leaf.
        path: std::path::PathBuf,
        /// The column.
        column: String,
        /// Its Arrow type.
        found: arrow_schema::DataType,
    },
    /// One row's vector has another length than the column's.
    #[error("{column}: TARGETID {targetid} has {found} values, expected {expected}")]
    VectorLength {
        /// The column.
        column: String,
        /// The row.
        targetid: i64,
        /// Its length.
        found: usize,
        /// The column's.
        expected: usize,
    },
    /// A query vector has another length than the column's.
    #[error("query {query} has {found} values; {column} has {expected}")]
    QueryLength {
        /// Position of the query.
        query: usize,
        /// Its length.
        found: usize,
        /// The column searched.
        column: String,
        /// The column's length.
        expected: usize,
    },
    /// A query vector holds NaN or ±∞.
    #[error("query {query} has a non-finite value")]
    NonFiniteQuery {
        /// Position of the query.
        query: usize,
    },
    /// The row filter does not have one entry per row.
    #[error("filter has {found} entries for {expected} rows")]
    FilterLength {
        /// Entries given.
        found: usize,
        /// Rows of the index.
        expected: usize,
    },
    /// The FAISS peer exited without a result.
    #[error("faiss peer failed: {stderr}")]
    Peer {
        /// The last line it wrote to stderr.
        stderr: String,
    },
    /// The FAISS peer's result line is not the JSON expected.
    #[error("faiss peer output")]
    PeerOutput(#[source] serde_json::Error),
}

impl SearchError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        SearchError::Io { path: path.to_path_buf(), source }
    }
}
