//! Benchmark (issue 6): spectra per second of the full-size AstroCLIP spectrum encoder
//! (f32, CPU), weights regenerated from the fixtures' PRNG. `cargo bench -p ard-ai
//! --bench encoder_cpu`; set RAYON_NUM_THREADS=1 for a per-core figure (candle's CPU
//! matrix products use the rayon pool).

use std::time::Instant;

use ard_ai::{prng, EncoderConfig, SpectrumEncoder};
use candle_core::Device;

fn main() {
    let cfg = EncoderConfig::ASTROCLIP;
    let enc = SpectrumEncoder::new(cfg, prng::tensors(&cfg, prng::SEED, &Device::Cpu).expect("weights"), &Device::Cpu).expect("encoder");
    let batch = 8;
    let spectra: Vec<Vec<f32>> = (0..batch).map(|b| (0..7781).map(|i| 2.0 + ((i * (b + 3)) as f32 * 0.001).sin()).collect()).collect();
    let refs: Vec<&[f32]> = spectra.iter().map(|s| s.as_slice()).collect();
    let _ = enc.embed(&refs[..1]).expect("warm-up");
    let t0 = Instant::now();
    let reps = 2;
    for _ in 0..reps {
        let _ = enc.embed(&refs).expect("forward");
    }
    let s = t0.elapsed().as_secs_f64();
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    println!(
        "AstroCLIP full-size encoder, f32 CPU, batch {batch}, threads {threads}: {:.2} spectra/s ({:.3} s/spectrum)",
        (reps * batch) as f64 / s,
        s / (reps * batch) as f64
    );
}
