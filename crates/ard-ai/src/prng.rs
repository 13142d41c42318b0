//! Counter-based weights for parity tests of the full-size model without trained
//! weights (the rule of the reference fixtures, `testdata/astroclip/README.md`):
//! element n (global counter over all tensors, keys in byte order, elements row-major)
//! is u = 2·(splitmix64(SEED + n) >> 11)·2⁻⁵³ − 1, scaled by kind and rounded to f32.
//! SplitMix64's output function is Steele, Lea & Flood (2014, OOPSLA, Fig. 1).

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use crate::model::EncoderConfig;
use crate::Result;

/// Seed of the reference fixtures.
pub const SEED: u64 = 20251125;

/// The SplitMix64 output function of one word.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// u ∈ [−1, 1) of counter `n`.
pub fn uniform(seed: u64, n: u64) -> f64 {
    ((splitmix64(seed.wrapping_add(n)) >> 11) as f64) * (1.0 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// The value of element with uniform `u` in tensor `key` whose last dimension is `fan_in`.
fn value(key: &str, u: f64, fan_in: usize) -> f32 {
    let v = if key.contains("layernorm") && key.ends_with(".weight") {
        1.0 + 0.01 * u
    } else if key.contains("layernorm") && key.ends_with(".bias") {
        0.01 * u
    } else if key == "backbone.position_embed.weight" || key == "cross_attention.query" {
        u * 0.02
    } else if key.ends_with("bias") {
        0.01 * u
    } else {
        u * (1.0 / (fan_in as f64).sqrt())
    };
    v as f32
}

/// All weights of `cfg` from the generator, as f32 arrays in key order.
pub fn weights(cfg: &EncoderConfig, seed: u64) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut counter = 0u64;
    cfg.expected_tensors()
        .into_iter()
        .map(|(key, shape)| {
            let n: usize = shape.iter().product();
            let fan_in = *shape.last().unwrap_or(&1);
            let data = (0..n as u64).map(|i| value(&key, uniform(seed, counter + i), fan_in)).collect();
            counter += n as u64;
            (key, shape, data)
        })
        .collect()
}

/// The same as tensors on `device`.
pub fn tensors(cfg: &EncoderConfig, seed: u64, device: &Device) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    for (key, shape, data) in weights(cfg, seed) {
        out.insert(key, Tensor::from_vec(data, shape, device)?);
    }
    Ok(out)
}

/// Writes the generator's weights as a safetensors file (a stand-in for trained
/// weights in end-to-end tests of `--astroclip`).
pub fn save_safetensors(cfg: &EncoderConfig, seed: u64, path: &std::path::Path) -> Result<()> {
    let t = tensors(cfg, seed, &Device::Cpu)?;
    candle_core::safetensors::save(&t, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_vectors_of_the_fixture_readme() {
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        let expect = [0xEE16_D9FA_48E3_0FEF, 0xAEE3_8E61_8D71_1BF7, 0xA827_B327_39EC_39C1, 0xB288_D9AD_3B63_1049];
        for (c, e) in expect.iter().enumerate() {
            assert_eq!(splitmix64(SEED + c as u64), *e);
        }
        assert_eq!(uniform(SEED, 0), 0.8600723716824847);
        let w = weights(&EncoderConfig::ASTROCLIP, SEED);
        let bits = |key: &str| -> Vec<u32> { w.iter().find(|t| t.0 == key).unwrap().2[..4].iter().map(|v| v.to_bits()).collect() };
        assert_eq!(bits("backbone.blocks.0.attention.attention.bias"), vec![0x3C0CEA0D, 0x3B701235, 0x3B4D9810, 0x3B815E56]);
        assert_eq!(bits("backbone.final_layernorm.weight"), vec![0x3F7F6653, 0x3F7FFA53, 0x3F8137BD, 0x3F811E61]);
        assert_eq!(bits("cross_attention.query"), vec![0xBC403229, 0x3C3D3B35, 0x3B87BA76, 0xBCA13655]);
        assert_eq!(bits("mlp.encoder.weight"), vec![0xBCC7ED55, 0x3CA72CA7, 0xBCB1F00F, 0xBBC2B7C2]);
        assert_eq!(w.iter().map(|t| t.2.len()).sum::<usize>(), 55_248_662);
    }
}
