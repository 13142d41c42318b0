//! GPU check and benchmark (issue 6), for a `cuda` build on a machine with a GPU:
//!
//! 1. parity — the tiny reference fixtures and the full-size PRNG model, f16 (or
//!    `ENCODER_DTYPE=bf16|f32`) on CUDA device 0 against f32 on the CPU: cosine of every
//!    embedding ≥ 0.9999 (exits non-zero otherwise);
//! 2. throughput — spectra/s of the full-size encoder at batch 256 and 1024
//!    (`ENCODER_BATCHES` to change), best of 3 after a warm-up.
//!
//! ```sh
//! eval "$(../shared/tools/cuda-build-env.sh)"
//! cargo bench -p ard-ai --features cuda --bench encoder_gpu --no-run   # here; carry the binary
//! ./encoder_gpu-<hash>                                                  # on the GPU machine
//! ```

use std::path::Path;
use std::time::Instant;

use ard_ai::{prng, weights, EncoderConfig, SpectrumEncoder};
use candle_core::{DType, Device};

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    d / (a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt() * b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt())
}

fn worst_cosine(cpu: &SpectrumEncoder, gpu: &SpectrumEncoder, spectra: &[Vec<f32>]) -> f64 {
    let refs: Vec<&[f32]> = spectra.iter().map(|s| s.as_slice()).collect();
    let (a, b) = (cpu.embed(&refs).expect("cpu"), gpu.embed(&refs).expect("gpu"));
    a.astroclip.iter().zip(&b.astroclip).chain(a.specformer.iter().zip(&b.specformer)).map(|(x, y)| cosine(x, y)).fold(1.0, f64::min)
}

fn main() {
    let dtype = match std::env::var("ENCODER_DTYPE").unwrap_or_default().as_str() {
        "bf16" => DType::BF16,
        "f32" => DType::F32,
        _ => DType::F16,
    };
    let gpu = match Device::new_cuda(0) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("no CUDA device ({e}): this benchmark needs a `cuda` build on a GPU machine");
            std::process::exit(2);
        }
    };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/astroclip");
    let inputs = candle_core::safetensors::load(fixtures.join("inputs.safetensors"), &Device::Cpu).expect("inputs");
    let spectra: Vec<Vec<f32>> = inputs["spectra"].to_vec2::<f32>().expect("spectra");
    let w = weights::load(&fixtures.join("tiny.safetensors")).expect("tiny weights");
    let cfg = EncoderConfig::from_tensors(&w.tensors, (2, 4)).expect("config");
    let tiny_cpu = SpectrumEncoder::new(cfg, w.tensors.clone(), &Device::Cpu).expect("cpu");
    let tiny_gpu = SpectrumEncoder::new_with_dtype(cfg, w.tensors, &gpu, dtype).expect("gpu");
    let c_tiny = worst_cosine(&tiny_cpu, &tiny_gpu, &spectra);
    let full = EncoderConfig::ASTROCLIP;
    let t = prng::tensors(&full, prng::SEED, &Device::Cpu).expect("prng weights");
    let full_cpu = SpectrumEncoder::new(full, t.clone(), &Device::Cpu).expect("cpu");
    let full_gpu = SpectrumEncoder::new_with_dtype(full, t, &gpu, dtype).expect("gpu");
    let c_full = worst_cosine(&full_cpu, &full_gpu, &spectra);
    println!("parity ({} vs cpu f32): worst cosine tiny {c_tiny:.6}, full-size {c_full:.6}", full_gpu.placement());
    let batches: Vec<usize> =
        std::env::var("ENCODER_BATCHES").unwrap_or_else(|_| "256,1024".into()).split(',').filter_map(|b| b.trim().parse().ok()).collect();
    for b in batches {
        let many: Vec<Vec<f32>> = (0..b).map(|i| spectra[i % spectra.len()].clone()).collect();
        let refs: Vec<&[f32]> = many.iter().map(|s| s.as_slice()).collect();
        let _ = full_gpu.embed(&refs).expect("warm-up");
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t0 = Instant::now();
            let _ = full_gpu.embed(&refs).expect("forward"); // to_vec2 synchronises
            best = best.min(t0.elapsed().as_secs_f64());
        }
        println!("AstroCLIP full-size encoder, {}, batch {b}: {:.0} spectra/s", full_gpu.placement(), b as f64 / best);
    }
    if c_tiny < 0.9999 || c_full < 0.9999 {
        eprintln!("FAIL: cosine to the CPU f32 output below 0.9999");
        std::process::exit(1);
    }
}
