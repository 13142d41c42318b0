//! `ard-ai` owns the AI layer's models: the AstroCLIP spectrum encoder (Parker et al.
//! 2024, MNRAS 531, 4990; MIT-licensed code at github.com/PolymathicAI/AstroCLIP) —
//! a SpecFormer transformer backbone whose mean-pooled tokens give a 768-d embedding,
//! followed by a cross-attention projection head giving the 1024-d AstroCLIP embedding —
//! written in candle from the architecture's specification ([`model`]), with its input
//! preprocessing ([`preprocess`]) and weight loading from the formats users have:
//! safetensors, a plain `torch.save` state dict and the published Lightning checkpoint
//! ([`weights`], with a tolerant pickle reader in [`pickle`]). [`prng`] rebuilds a
//! full-size model from a counter-based generator for parity tests without trained
//! weights.
//!
//! It also owns the embedding that needs no downloaded weights, [`pca`]: rest-frame,
//! continuum-normalised eigenspectra learned once per ARD (column `emb_pca`).
//!
//! The Shen et al. (2025) universal spectral tokenizer has no public code or weights;
//! nothing here stands in for it.
#![deny(missing_docs)]

pub mod model;
pub mod pca;
pub mod pickle;
pub mod preprocess;
pub mod prng;
pub mod stage;
pub mod weights;

pub use model::{EncoderConfig, SpectrumEncoder};
pub use stage::{AstroclipStage, PcaStage};

/// Loads weights from `path` and builds the encoder where it runs best: on CUDA device 0
/// in f16 (`DESI_ARD_DTYPE=bf16` or `f32` to change) when this build has the `cuda`
/// feature and a GPU answers (unless `DESI_ARD_DEVICE=cpu`), else on the CPU in f32. `heads` overrides the (backbone,
/// head) attention-head counts when the file does not record them (default: the
/// published AstroCLIP's 6 and 4).
pub fn load_encoder(path: &std::path::Path, heads: Option<(usize, usize)>) -> Result<SpectrumEncoder> {
    let (device, dtype) = best_device();
    load_encoder_on(path, heads, &device, dtype)
}

/// [`load_encoder`] on a given device and dtype.
pub fn load_encoder_on(
    path: &std::path::Path,
    heads: Option<(usize, usize)>,
    device: &candle_core::Device,
    dtype: candle_core::DType,
) -> Result<SpectrumEncoder> {
    let w = weights::load(path)?;
    let heads = heads.or(w.heads).unwrap_or((EncoderConfig::ASTROCLIP.num_heads, EncoderConfig::ASTROCLIP.head_heads));
    let cfg = EncoderConfig::from_tensors(&w.tensors, heads)?;
    SpectrumEncoder::new_with_dtype(cfg, w.tensors, device, dtype)
}

/// The device and dtype [`load_encoder`] uses (see there).
pub fn best_device() -> (candle_core::Device, candle_core::DType) {
    let cpu = (candle_core::Device::Cpu, candle_core::DType::F32);
    if std::env::var("DESI_ARD_DEVICE").is_ok_and(|v| v.eq_ignore_ascii_case("cpu")) || !cfg!(feature = "cuda") {
        return cpu;
    }
    match candle_core::Device::new_cuda(0) {
        Ok(d) => {
            let dtype = match std::env::var("DESI_ARD_DTYPE").unwrap_or_default().to_ascii_lowercase().as_str() {
                "bf16" => candle_core::DType::BF16,
                "f32" => candle_core::DType::F32,
                _ => candle_core::DType::F16,
            };
            (d, dtype)
        }
        Err(e) => {
            tracing::warn!("no usable CUDA device ({e}); the AstroCLIP encoder runs on the CPU");
            cpu
        }
    }
}

/// Errors of the AI layer.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A weight file could not be read.
    #[error("{path}: {message}")]
    Weights {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A weight or model file could not be read or decoded.
    #[error("{}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A tensor is missing or has the wrong shape.
    #[error("weights: tensor {key}: expected shape {expected:?}, found {found}")]
    Tensor {
        /// State-dict key.
        key: String,
        /// Expected shape.
        expected: Vec<usize>,
        /// What was found ("missing" or the shape).
        found: String,
    },
    /// A weight or model file is not in the format expected, or a part of it cannot be decoded.
    #[error("{}: {what}", path.display())]
    Decode {
        /// The file.
        path: std::path::PathBuf,
        /// What it is not, or which part failed.
        what: String,
        /// The decoder's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A tensor's storage in a PyTorch checkpoint could not be read or turned into a tensor.
    #[error("{}: tensor {tensor}", path.display())]
    Storage {
        /// The weights file.
        path: std::path::PathBuf,
        /// State-dict key.
        tensor: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The weights' embedding tensors do not have the ranks of AstroCLIP's encoder.
    #[error("weights: unexpected shapes: data_embed {data_embed:?}, position_embed {position_embed:?}, query {query:?} (expected ranks 2, 2, 3)")]
    Shapes {
        /// `backbone.data_embed.weight`.
        data_embed: Vec<usize>,
        /// `backbone.position_embed.weight`.
        position_embed: Vec<usize>,
        /// `cross_attention.query`.
        query: Vec<usize>,
    },
    /// The head counts the weights imply do not divide the widths.
    #[error("weights: head counts {num_heads} / {head_heads} do not divide widths {embed_dim} / {head_dim}")]
    Heads {
        /// Backbone attention heads.
        num_heads: usize,
        /// Cross-attention heads.
        head_heads: usize,
        /// Backbone width.
        embed_dim: usize,
        /// Head width.
        head_dim: usize,
    },
    /// The encoder was asked to compute in a dtype it does not support.
    #[error("the encoder computes in f32, f16 or bf16, not {0:?}")]
    Dtype(candle_core::DType),
    /// A spectrum is not on the model's grid.
    #[error("input: spectrum {index} has {found} pixels; the model takes the {expected}-pixel brz grid")]
    SpectrumLength {
        /// Position in the batch.
        index: usize,
        /// Its pixel count.
        found: usize,
        /// The model's pixel count.
        expected: usize,
    },
    /// A spectrum holds NaN or ±∞.
    #[error("input: spectrum {index} has a non-finite flux at pixel {pixel}")]
    NonFinite {
        /// Position in the batch.
        index: usize,
        /// The first bad pixel.
        pixel: usize,
    },
    /// Too few training spectra for the PCA basis.
    #[error("PCA embedding: {usable} usable training spectra; at least {needed} are needed")]
    TooFewTraining {
        /// Training spectra given.
        usable: usize,
        /// The minimum.
        needed: usize,
    },
    /// No rest-frame pixel is covered by enough training spectra.
    #[error("PCA embedding: no pixel is covered by {needed} training spectra")]
    NoCoverage {
        /// Spectra a pixel needs.
        needed: u32,
    },
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, AiError>;
