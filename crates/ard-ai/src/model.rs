//! The AstroCLIP spectrum encoder (`SpectrumHead` = SpecFormer backbone + cross-attention
//! head) in candle, written from the architecture's specification:
//!
//! - SpecFormer (Parker et al. 2024, §3.2): h = tokens·W_embᵀ + b + P[0..T]; pre-norm
//!   transformer blocks h += Attn(LN₁(h)), h += MLP(LN₂(h)) with fused q|k|v projection,
//!   non-causal softmax(q·kᵀ/√d_h)·v attention (Vaswani et al. 2017, eq. 1) and an MLP
//!   d → 4d → d with the exact erf GELU (Hendrycks & Gimpel 2016); a final LayerNorm.
//!   The 768-d embedding is the mean of all tokens.
//! - The head: one learned query attends over the tokens (multi-head cross-attention
//!   with separate q, k, v projections and a packed q|k|v bias), LayerNorm, then a
//!   residual MLP y + W₂ GELU(W₁ y); output 1024-d, not normalised.
//!
//! All LayerNorms use ε = 1e-5 and the biased variance. Key names follow the upstream
//! `state_dict`, so weights load unchanged.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, D};

use crate::preprocess::{n_tokens, tokens, FEATURES, NPIX};
use crate::{AiError, Result};

/// Hyper-parameters of the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Token features (22).
    pub input_dim: usize,
    /// Backbone width (768 published).
    pub embed_dim: usize,
    /// Transformer blocks (6 published).
    pub num_layers: usize,
    /// Attention heads of the backbone (6 published).
    pub num_heads: usize,
    /// Positional-embedding rows (800 published).
    pub max_len: usize,
    /// Head width = output dimension (1024 published).
    pub head_dim: usize,
    /// Attention heads of the head (4 published).
    pub head_heads: usize,
}

impl EncoderConfig {
    /// The published AstroCLIP spectrum encoder.
    pub const ASTROCLIP: EncoderConfig =
        EncoderConfig { input_dim: 22, embed_dim: 768, num_layers: 6, num_heads: 6, max_len: 800, head_dim: 1024, head_heads: 4 };

    /// Every tensor the model needs, with its shape, in lexicographic key order.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let (d, e, f) = (self.embed_dim, self.head_dim, self.input_dim);
        let mut v: Vec<(String, Vec<usize>)> = Vec::new();
        for l in 0..self.num_layers {
            let p = format!("backbone.blocks.{l}.");
            v.push((format!("{p}attention.attention.bias"), vec![3 * d]));
            v.push((format!("{p}attention.attention.weight"), vec![3 * d, d]));
            v.push((format!("{p}attention.projection.bias"), vec![d]));
            v.push((format!("{p}attention.projection.weight"), vec![d, d]));
            for ln in ["layernorm1", "layernorm2"] {
                v.push((format!("{p}{ln}.bias"), vec![d]));
                v.push((format!("{p}{ln}.weight"), vec![d]));
            }
            v.push((format!("{p}mlp.decoder.bias"), vec![d]));
            v.push((format!("{p}mlp.decoder.weight"), vec![d, 4 * d]));
            v.push((format!("{p}mlp.encoder.bias"), vec![4 * d]));
            v.push((format!("{p}mlp.encoder.weight"), vec![4 * d, d]));
        }
        v.push(("backbone.data_embed.bias".into(), vec![d]));
        v.push(("backbone.data_embed.weight".into(), vec![d, f]));
        v.push(("backbone.final_layernorm.bias".into(), vec![d]));
        v.push(("backbone.final_layernorm.weight".into(), vec![d]));
        v.push(("backbone.head.bias".into(), vec![f]));
        v.push(("backbone.head.weight".into(), vec![f, d]));
        v.push(("backbone.position_embed.weight".into(), vec![self.max_len, d]));
        v.push(("cross_attention.layernorm.bias".into(), vec![e]));
        v.push(("cross_attention.layernorm.weight".into(), vec![e]));
        v.push(("cross_attention.multihead_attn.in_proj_bias".into(), vec![3 * e]));
        v.push(("cross_attention.multihead_attn.k_proj_weight".into(), vec![e, d]));
        v.push(("cross_attention.multihead_attn.out_proj.bias".into(), vec![e]));
        v.push(("cross_attention.multihead_attn.out_proj.weight".into(), vec![e, e]));
        v.push(("cross_attention.multihead_attn.q_proj_weight".into(), vec![e, e]));
        v.push(("cross_attention.multihead_attn.v_proj_weight".into(), vec![e, d]));
        v.push(("cross_attention.query".into(), vec![1, 1, e]));
        v.push(("mlp.decoder.bias".into(), vec![e]));
        v.push(("mlp.decoder.weight".into(), vec![e, 4 * e]));
        v.push(("mlp.encoder.bias".into(), vec![4 * e]));
        v.push(("mlp.encoder.weight".into(), vec![4 * e, e]));
        v.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        v
    }

    /// The shape-determined hyper-parameters read off a state dict; the head counts
    /// (not visible in shapes) come from `heads` = (backbone, head).
    pub fn from_tensors(t: &HashMap<String, Tensor>, heads: (usize, usize)) -> Result<Self> {
        let dims = |k: &str| -> Result<Vec<usize>> {
            t.get(k).map(|x| x.dims().to_vec()).ok_or_else(|| AiError::Tensor { key: k.into(), expected: vec![], found: "missing".into() })
        };
        let emb = dims("backbone.data_embed.weight")?;
        let pos = dims("backbone.position_embed.weight")?;
        let query = dims("cross_attention.query")?;
        let num_layers = (0..).take_while(|l| t.contains_key(&format!("backbone.blocks.{l}.layernorm1.weight"))).count();
        if emb.len() != 2 || pos.len() != 2 || query.len() != 3 {
            return Err(AiError::Shapes { data_embed: emb, position_embed: pos, query });
        }
        Ok(EncoderConfig {
            input_dim: emb[1],
            embed_dim: emb[0],
            num_layers,
            num_heads: heads.0,
            max_len: pos[0],
            head_dim: query[2],
            head_heads: heads.1,
        })
    }
}

/// The encoder with its weights on a device.
pub struct SpectrumEncoder {
    cfg: EncoderConfig,
    w: HashMap<String, Tensor>,
    device: Device,
    dtype: DType,
}

/// One batch's outputs.
#[derive(Debug, Clone)]
pub struct Embeddings {
    /// Mean-pooled backbone tokens (B × embed_dim), the "SpecFormer" embedding.
    pub specformer: Vec<Vec<f32>>,
    /// Head output (B × head_dim), the AstroCLIP embedding.
    pub astroclip: Vec<Vec<f32>>,
}

/// LayerNorm, computed in f32 whatever the activations' dtype (as mixed-precision
/// PyTorch does: half-precision variances lose the small differences that matter).
fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let y = xc.broadcast_div(&(var + 1e-5)?.sqrt()?)?;
    Ok(y.broadcast_mul(w)?.broadcast_add(b)?.to_dtype(dtype)?)
}

/// Softmax over the last axis, in f32 for the same reason.
fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let m = x.max_keepdim(D::Minus1)?;
    let e = x.broadcast_sub(&m)?.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?.to_dtype(dtype)?)
}

impl SpectrumEncoder {
    /// Checks every tensor against `cfg` (a clear error names a missing or mis-shaped
    /// one) and moves the weights to `device` as f32.
    pub fn new(cfg: EncoderConfig, tensors: HashMap<String, Tensor>, device: &Device) -> Result<Self> {
        Self::new_with_dtype(cfg, tensors, device, DType::F32)
    }

    /// As [`SpectrumEncoder::new`], computing in `dtype` (f16 or bf16 on a GPU; f32 on
    /// the CPU, where half precision is slower): weights and activations in `dtype`,
    /// LayerNorm parameters, LayerNorm and softmax in f32, outputs returned as f32.
    pub fn new_with_dtype(cfg: EncoderConfig, tensors: HashMap<String, Tensor>, device: &Device, dtype: DType) -> Result<Self> {
        if !matches!(dtype, DType::F32 | DType::F16 | DType::BF16) {
            return Err(AiError::Dtype(dtype));
        }
        let mut w = HashMap::new();
        for (key, shape) in cfg.expected_tensors() {
            let t =
                tensors.get(&key).ok_or_else(|| AiError::Tensor { key: key.clone(), expected: shape.clone(), found: "missing".into() })?;
            if t.dims() != shape.as_slice() {
                return Err(AiError::Tensor { key, expected: shape, found: format!("{:?}", t.dims()) });
            }
            let keep_f32 = key.contains("layernorm");
            w.insert(key, t.to_dtype(if keep_f32 { DType::F32 } else { dtype })?.to_device(device)?);
        }
        if !cfg.embed_dim.is_multiple_of(cfg.num_heads) || !cfg.head_dim.is_multiple_of(cfg.head_heads) {
            return Err(AiError::Heads {
                num_heads: cfg.num_heads,
                head_heads: cfg.head_heads,
                embed_dim: cfg.embed_dim,
                head_dim: cfg.head_dim,
            });
        }
        Ok(SpectrumEncoder { cfg, w, device: device.clone(), dtype })
    }

    /// The configuration.
    pub fn config(&self) -> &EncoderConfig {
        &self.cfg
    }

    /// The dtype it computes in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Where and in what precision it computes, e.g. `cpu f32`, `cuda:0 f16`.
    pub fn placement(&self) -> String {
        let dev = if self.device.is_cuda() {
            "cuda:0"
        } else if self.device.is_metal() {
            "metal"
        } else {
            "cpu"
        };
        format!("{dev} {}", self.dtype.as_str())
    }

    fn t(&self, k: &str) -> &Tensor {
        // Every key was checked in `new`.
        &self.w[k]
    }

    fn linear(&self, x: &Tensor, prefix: &str) -> Result<Tensor> {
        let y = x.broadcast_matmul(&self.t(&format!("{prefix}.weight")).t()?)?;
        Ok(y.broadcast_add(self.t(&format!("{prefix}.bias")))?)
    }

    /// The preprocessed token tensor (B × 778 × 22) of a batch of 7,781-pixel spectra.
    pub fn tokens(&self, spectra: &[&[f32]]) -> Result<Tensor> {
        let mut data = Vec::with_capacity(spectra.len() * n_tokens(NPIX) * FEATURES);
        for (i, s) in spectra.iter().enumerate() {
            if s.len() != NPIX {
                return Err(AiError::SpectrumLength { index: i, found: s.len(), expected: NPIX });
            }
            if let Some(j) = s.iter().position(|v| !v.is_finite()) {
                return Err(AiError::NonFinite { index: i, pixel: j });
            }
            data.extend(tokens(s));
        }
        Ok(Tensor::from_vec(data, (spectra.len(), n_tokens(NPIX), FEATURES), &self.device)?.to_dtype(self.dtype)?)
    }

    /// Backbone tokens after the final LayerNorm (B × T × d).
    pub fn backbone(&self, tokens: &Tensor) -> Result<Tensor> {
        let (b, t, _) = tokens.dims3()?;
        let d = self.cfg.embed_dim;
        let (h, hd) = (self.cfg.num_heads, d / self.cfg.num_heads);
        let pos = self.t("backbone.position_embed.weight").narrow(0, 0, t)?;
        let mut x = self.linear(tokens, "backbone.data_embed")?.broadcast_add(&pos)?;
        let scale = 1.0 / (hd as f64).sqrt();
        for l in 0..self.cfg.num_layers {
            let p = format!("backbone.blocks.{l}");
            let y = layer_norm(&x, self.t(&format!("{p}.layernorm1.weight")), self.t(&format!("{p}.layernorm1.bias")))?;
            let qkv = self.linear(&y, &format!("{p}.attention.attention"))?;
            let split =
                |k: usize| -> Result<Tensor> { Ok(qkv.narrow(2, k * d, d)?.reshape((b, t, h, hd))?.transpose(1, 2)?.contiguous()?) };
            let (q, k, v) = (split(0)?, split(1)?, split(2)?);
            let att = softmax_last(&(q.matmul(&k.t()?)? * scale)?)?;
            let o = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))?;
            x = (x + self.linear(&o, &format!("{p}.attention.projection"))?)?;
            let y = layer_norm(&x, self.t(&format!("{p}.layernorm2.weight")), self.t(&format!("{p}.layernorm2.bias")))?;
            let m = self.linear(&self.linear(&y, &format!("{p}.mlp.encoder"))?.gelu_erf()?, &format!("{p}.mlp.decoder"))?;
            x = (x + m)?;
        }
        layer_norm(&x, self.t("backbone.final_layernorm.weight"), self.t("backbone.final_layernorm.bias"))
    }

    /// The head's output (B × E) from backbone tokens.
    pub fn head(&self, tokens: &Tensor) -> Result<Tensor> {
        let (b, t, _) = tokens.dims3()?;
        let e = self.cfg.head_dim;
        let (h, hd) = (self.cfg.head_heads, e / self.cfg.head_heads);
        let bias = self.t("cross_attention.multihead_attn.in_proj_bias");
        let proj = |x: &Tensor, w: &str, k: usize| -> Result<Tensor> {
            let y = x.broadcast_matmul(&self.t(&format!("cross_attention.multihead_attn.{w}")).t()?)?;
            Ok(y.broadcast_add(&bias.narrow(0, k * e, e)?)?)
        };
        let q = proj(self.t("cross_attention.query"), "q_proj_weight", 0)?; // 1 × 1 × E
        let q = q.reshape((1, 1, h, hd))?.transpose(1, 2)?.contiguous()?; // 1 × h × 1 × hd
        let heads = |x: Tensor| -> Result<Tensor> { Ok(x.reshape((b, t, h, hd))?.transpose(1, 2)?.contiguous()?) };
        let k = heads(proj(tokens, "k_proj_weight", 1)?)?;
        let v = heads(proj(tokens, "v_proj_weight", 2)?)?;
        let att = softmax_last(&(q.broadcast_matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?)?; // b × h × 1 × t
        let o = att.matmul(&v)?.transpose(1, 2)?.reshape((b, 1, e))?;
        let o = self.linear(&o, "cross_attention.multihead_attn.out_proj")?;
        let y = layer_norm(&o, self.t("cross_attention.layernorm.weight"), self.t("cross_attention.layernorm.bias"))?;
        let y = (&y + self.linear(&self.linear(&y, "mlp.encoder")?.gelu_erf()?, "mlp.decoder")?)?;
        Ok(y.reshape((b, e))?)
    }

    /// Both embeddings of a batch of spectra (flux on the 7,781-pixel brz grid).
    pub fn embed(&self, spectra: &[&[f32]]) -> Result<Embeddings> {
        if spectra.is_empty() {
            return Ok(Embeddings { specformer: vec![], astroclip: vec![] });
        }
        let tokens = self.backbone(&self.tokens(spectra)?)?;
        let pooled = tokens.mean(1)?;
        let head = self.head(&tokens)?;
        Ok(Embeddings { specformer: pooled.to_dtype(DType::F32)?.to_vec2()?, astroclip: head.to_dtype(DType::F32)?.to_vec2()? })
    }
}
