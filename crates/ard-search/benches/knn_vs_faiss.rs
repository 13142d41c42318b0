//! Issue 8 benchmark: exact top-k cosine search over N × D Float16 vectors (default
//! 1,000,000 × 1024, top-100), for one query and for a batch of 100, against faiss-cpu
//! `IndexFlatIP` (float32) on the same vectors in the same run, with the memory of each
//! index and the physical floor (bytes scanned ÷ measured memory bandwidth).
//!
//! ```sh
//! DESI_ARD_PEER_PYTHON=$(bash scripts/python-peers.sh) cargo bench -p ard-search --bench knn_vs_faiss
//! ```
//! Environment: `KNN_N`, `KNN_DIM`, `KNN_K`, `KNN_NQ` change the sizes.

use std::path::Path;
use std::time::Instant;

use ard_search::{EmbeddingIndex, RowKey};
use half::f16;
use rayon::prelude::*;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn best<T>(repeat: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = None;
    let mut t_best = f64::INFINITY;
    for _ in 0..repeat {
        let t = Instant::now();
        let r = f();
        t_best = t_best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (t_best, out.expect("repeat >= 1"))
}

fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    let (n, dim, k, nq) = (env("KNN_N", 1_000_000), env("KNN_DIM", 1024), env("KNN_K", 100), env("KNN_NQ", 100));
    let threads = rayon::current_num_threads();
    eprintln!("generating {n} × {dim} Float16 vectors ...");
    let mut vectors = vec![f16::ZERO; n * dim];
    vectors.par_chunks_mut(dim).enumerate().for_each(|(i, row)| {
        for (j, v) in row.iter_mut().enumerate() {
            let u = (splitmix((i * dim + j) as u64) >> 40) as f32 / (1u64 << 24) as f32;
            *v = f16::from_f32(u * 2.0 - 1.0);
        }
    });
    let keys: Vec<RowKey> = (0..n).map(|i| RowKey { targetid: i as i64, survey: String::new(), program: String::new() }).collect();
    let ix = EmbeddingIndex::from_parts("emb_bench", dim, keys, vec![true; n], vectors, 0);
    let queries: Vec<Vec<f32>> = (0..nq).map(|i| ix.query_of((i * 7919) % n)).collect();

    // Memory bandwidth: a parallel read of the whole matrix (best of 3).
    let words: &[u16] = half::slice::HalfFloatSliceExt::reinterpret_cast(ix.vectors.as_slice());
    let (t_bw, _) = best(3, || words.par_chunks(1 << 16).map(|c| c.iter().fold(0u64, |a, &w| a.wrapping_add(w as u64))).sum::<u64>());
    let bytes = (n * dim * 2) as f64;
    let bandwidth = bytes / t_bw;

    let (t1, one) = best(3, || ix.search(&queries[..1], k, None).expect("search"));
    let (tb, batch) = best(3, || ix.search(&queries, k, None).expect("search"));
    assert_eq!(one[0].len(), k.min(n));
    let ours_bytes = (n * dim * 2 + n * 4) as u64;
    let ours_rss = peak_rss();

    let faiss = std::env::var_os("DESI_ARD_PEER_PYTHON").map(|py| {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peers/faiss_knn.py");
        ard_search::peer::run_faiss(Path::new(&py), &script, dir.path(), &ix.vectors, dim, &queries, k, true).expect("faiss peer")
    });

    println!("## Exact top-{k} cosine search, {n} × {dim}, {threads} threads, kernel {}", ard_search::kernel::simd_in_use());
    println!();
    println!("| | 1 query | batch of {nq} | per query in batch | index memory |");
    println!("|---|---|---|---|---|");
    println!(
        "| desi-ard (Float16) | {:.3} s | {:.3} s | {:.1} ms | {:.2} GB (peak RSS {:.2} GB) |",
        t1,
        tb,
        tb / nq as f64 * 1e3,
        ours_bytes as f64 / 1e9,
        ours_rss as f64 / 1e9
    );
    if let Some(f) = &faiss {
        println!(
            "| faiss-cpu {} IndexFlatIP (float32, {} threads) | {:.3} s | {:.3} s | {:.1} ms | {:.2} GB (peak RSS {:.2} GB) |",
            f.faiss,
            f.threads,
            f.t_search_1,
            f.t_search_batch,
            f.t_search_batch / f.nq as f64 * 1e3,
            f.index_bytes as f64 / 1e9,
            f.peak_rss_bytes as f64 / 1e9
        );
        println!(
            "| ratio faiss / desi-ard | {:.2}× | {:.2}× | | {:.2}× |",
            f.t_search_1 / t1,
            f.t_search_batch / tb,
            f.index_bytes as f64 / ours_bytes as f64
        );
        let agree = batch.iter().zip(&f.ids).map(|(m, ids)| m.iter().zip(ids).filter(|(a, b)| a.row as i64 == **b).count()).sum::<usize>()
            as f64
            / (nq * k) as f64;
        println!();
        println!("Same ids at the same rank as faiss: {:.4} (differences are exact near-ties in f32).", agree);
    } else {
        println!("(faiss peer not run: set DESI_ARD_PEER_PYTHON)");
    }
    println!();
    println!(
        "Physical floor: one pass reads {:.2} GB; measured read bandwidth {:.1} GB/s ⇒ {:.3} s per pass (1 query: {:.0} % of bandwidth).",
        bytes / 1e9,
        bandwidth / 1e9,
        bytes / bandwidth,
        100.0 * (bytes / bandwidth) / t1
    );
}
