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
    /// The input is not what the model takes.
    #[error("input: {0}")]
    Input(String),
    /// The eigenspectrum basis could not be learned or written.
    #[error("PCA embedding: {0}")]
    Pca(String),
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, AiError>;
