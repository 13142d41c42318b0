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
    /// The catalogue's data are not what the search needs.
    #[error("{0}")]
    Data(String),
    /// A catalogue leaf could not be read, or lacks a column of the type the search needs.
    #[error(transparent)]
    Store(#[from] ard_store::StoreError),
    /// The request is wrong (unknown column or object, bad vector).
    #[error("{0}")]
    Query(String),
}

impl SearchError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        SearchError::Io { path: path.to_path_buf(), source }
    }
}
