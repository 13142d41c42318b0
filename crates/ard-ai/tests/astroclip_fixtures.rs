//! Issue 6 acceptance: parity with the AstroCLIP reference fixtures
//! (`testdata/astroclip/`, made by the upstream MIT-licensed code with seeded random
//! weights; see its README). Tolerances are the fixture README's for an f32
//! implementation that preprocesses in f64: tokens ≤ 1e-6·max(1, |x|); backbone tokens,
//! the mean-pooled embedding and the head output ≤ 2e-5 absolute.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ard_ai::model::{EncoderConfig, SpectrumEncoder};
use ard_ai::{prng, weights};
use candle_core::{Device, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/astroclip").join(name)
}

fn load(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture(name), &Device::Cpu).unwrap()
}

fn inputs() -> Vec<Vec<f32>> {
    load("inputs.safetensors")["spectra"].to_vec2::<f32>().unwrap()
}

fn max_abs(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

fn check_tiny(file: &str) {
    let w = weights::load(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let heads = w.heads.unwrap_or((2, 4));
    assert_eq!(heads, (2, 4), "{file}: head counts");
    assert_eq!(w.tensors.len(), 44, "{file}: the 44 SpectrumHead tensors (image encoder skipped)");
    let cfg = EncoderConfig::from_tensors(&w.tensors, heads).unwrap();
    let enc = SpectrumEncoder::new(cfg, w.tensors, &Device::Cpu).unwrap();
    let expect = load("expected_tiny.safetensors");
    let spectra = inputs();
    let refs: Vec<&[f32]> = spectra.iter().map(|s| s.as_slice()).collect();
    let tokens = enc.tokens(&refs).unwrap();
    let pre = &expect["preprocessed"];
    let rel = ((&tokens - pre).unwrap().abs().unwrap() / pre.abs().unwrap().clamp(1f32, f32::MAX).unwrap()).unwrap();
    let rel = rel.flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
    assert!(rel <= 1e-6, "{file}: preprocessed tokens off by {rel:e} (relative)");
    let backbone = enc.backbone(&tokens).unwrap();
    let e = max_abs(&backbone, &expect["backbone_tokens"]);
    assert!(e <= 2e-5, "{file}: backbone tokens off by {e:e}");
    let pooled = backbone.mean(1).unwrap();
    let e = max_abs(&pooled, &expect["specformer_mean_pooled"]);
    assert!(e <= 2e-5, "{file}: mean-pooled embedding off by {e:e}");
    let head = enc.head(&backbone).unwrap();
    let e = max_abs(&head, &expect["head_output"]);
    assert!(e <= 2e-5, "{file}: head output off by {e:e}");
}

#[test]
fn tiny_model_from_safetensors() {
    check_tiny("tiny.safetensors");
}

#[test]
fn tiny_model_from_a_plain_torch_state_dict() {
    check_tiny("tiny_plain.pt");
}

#[test]
fn tiny_model_from_the_lightning_checkpoint() {
    check_tiny("tiny_lightning.ckpt");
}

#[test]
fn a_mis_shaped_tensor_is_named() {
    let mut w = weights::load(&fixture("tiny.safetensors")).unwrap();
    let cfg = EncoderConfig::from_tensors(&w.tensors, (2, 4)).unwrap();
    w.tensors.insert("mlp.encoder.weight".into(), Tensor::zeros((3, 3), candle_core::DType::F32, &Device::Cpu).unwrap());
    let err = SpectrumEncoder::new(cfg, w.tensors.clone(), &Device::Cpu).err().unwrap().to_string();
    assert!(err.contains("mlp.encoder.weight") && err.contains("[256, 64]"), "{err}");
    w.tensors.remove("backbone.data_embed.bias");
    let err = SpectrumEncoder::new(cfg, w.tensors, &Device::Cpu).err().unwrap().to_string();
    assert!(err.contains("backbone.data_embed.bias") && err.contains("missing"), "{err}");
}

/// The full-size model (55,248,662 weights regenerated from the counter-based PRNG, whose
/// SHA-256 the fixture records) against the upstream outputs.
#[test]
fn full_size_model_from_the_prng() {
    use sha2::{Digest, Sha256};
    let cfg = EncoderConfig::ASTROCLIP;
    let w = prng::weights(&cfg, prng::SEED);
    let mut h = Sha256::new();
    for (_, _, data) in &w {
        for v in data {
            h.update(v.to_le_bytes());
        }
    }
    let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(digest, "7df77b271c4748a4f4f74b8bfe24039b1daf2541279f3897b69549f7d5c4923f");
    let tensors = prng::tensors(&cfg, prng::SEED, &Device::Cpu).unwrap();
    let enc = SpectrumEncoder::new(cfg, tensors, &Device::Cpu).unwrap();
    let spectra = inputs();
    let refs: Vec<&[f32]> = spectra.iter().map(|s| s.as_slice()).collect();
    let out = enc.embed(&refs).unwrap();
    let expect = load("full_prng_expected.safetensors");
    let (pooled, head) = (expect["specformer_mean_pooled"].to_vec2::<f32>().unwrap(), expect["head_output"].to_vec2::<f32>().unwrap());
    let err = |a: &[Vec<f32>], b: &[Vec<f32>]| a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert_eq!(out.astroclip[0].len(), 1024);
    assert_eq!(out.specformer[0].len(), 768);
    let (e1, e2) = (err(&out.specformer, &pooled), err(&out.astroclip, &head));
    assert!(e1 <= 2e-5 && e2 <= 2e-5, "full model: specformer off by {e1:e}, head off by {e2:e}");
}

/// The half-precision path (what a `cuda` build runs on a GPU) on the CPU: f16 and bf16
/// weights and activations, LayerNorm and softmax in f32. The GPU acceptance is cosine
/// ≥ 0.9999 to f32; half precision on the CPU runs the same graph, so the same bound
/// holds here for f16. bf16 keeps 8 bits of mantissa and its residual stream drifts
/// (cosine 0.972 on these inputs): it is offered, not the default, and bounded at 0.95.
#[test]
fn half_precision_matches_f32_by_cosine() {
    let w = weights::load(&fixture("tiny.safetensors")).unwrap();
    let cfg = EncoderConfig::from_tensors(&w.tensors, (2, 4)).unwrap();
    let spectra = inputs();
    let refs: Vec<&[f32]> = spectra.iter().map(|s| s.as_slice()).collect();
    let f32_out = SpectrumEncoder::new(cfg, w.tensors.clone(), &Device::Cpu).unwrap().embed(&refs).unwrap();
    for (dtype, bound) in [(candle_core::DType::F16, 0.9999), (candle_core::DType::BF16, 0.95)] {
        let enc = SpectrumEncoder::new_with_dtype(cfg, w.tensors.clone(), &Device::Cpu, dtype).unwrap();
        assert!(enc.placement().ends_with(dtype.as_str()));
        let out = enc.embed(&refs).unwrap();
        for (a, b) in out.astroclip.iter().zip(&f32_out.astroclip).chain(out.specformer.iter().zip(&f32_out.specformer)) {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let cos = dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt());
            assert!(cos >= bound, "{dtype:?}: cosine {cos} to f32");
        }
    }
    assert!(SpectrumEncoder::new_with_dtype(cfg, w.tensors, &Device::Cpu, candle_core::DType::U8).is_err());
}

/// The published checkpoint (`astroclip.ckpt` from the AstroCLIP authors' release), when a
/// user points `DESI_ARD_ASTROCLIP_CKPT` at it: it loads as the full-size model and gives
/// finite 1024-d and 768-d embeddings that tell the fixture spectra apart. CI cannot have
/// the trained weights (they are not redistributable here), so there it says it skipped.
#[test]
fn the_published_checkpoint_loads_and_embeds() {
    let Some(path) = std::env::var_os("DESI_ARD_ASTROCLIP_CKPT") else {
        ard_testkit::cannot_run_here("no trained AstroCLIP weights (set DESI_ARD_ASTROCLIP_CKPT to astroclip.ckpt)");
        return;
    };
    let enc = ard_ai::load_encoder_on(Path::new(&path), None, &Device::Cpu, candle_core::DType::F32).unwrap();
    assert_eq!(*enc.config(), EncoderConfig::ASTROCLIP, "the published model's shape");
    let spectra = inputs();
    let refs: Vec<&[f32]> = spectra.iter().map(|s| s.as_slice()).collect();
    let out = enc.embed(&refs).unwrap();
    for (head, pooled) in out.astroclip.iter().zip(&out.specformer) {
        assert_eq!((head.len(), pooled.len()), (1024, 768));
        assert!(head.iter().chain(pooled).all(|v| v.is_finite()));
    }
    assert_ne!(out.astroclip[0], out.astroclip[1], "different spectra, different embeddings");
}
