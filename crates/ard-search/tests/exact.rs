//! Issue 8 acceptance: the search is exact — the same neighbours as a naive scalar f64
//! implementation, including ties, k larger than the table, empty filters and null
//! embeddings (which are never returned). Scores agree to 1e-5 (f32 accumulation of
//! Float16 products); ids agree wherever two neighbours' scores differ by more than that.

use std::sync::Arc;

use ard_search::{naive_search, EmbeddingIndex, RowKey};
use arrow_array::builder::{FixedSizeListBuilder, Float16Builder};
use arrow_array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use half::f16;

fn rng(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed;
    move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn key(i: usize) -> RowKey {
    RowKey { targetid: 1000 + i as i64, survey: "main".into(), program: if i.is_multiple_of(3) { "bright".into() } else { "dark".into() } }
}

fn random_index(n: usize, dim: usize, seed: u64) -> EmbeddingIndex {
    let mut r = rng(seed);
    let rows = (0..n).map(|i| (key(i), true, (0..dim).map(|_| f16::from_f32(r() * 3.0)).collect())).collect();
    EmbeddingIndex::new("emb_test", dim, rows, 0).unwrap()
}

fn check_against_naive(ix: &EmbeddingIndex, queries: &[Vec<f32>], k: usize, allowed: Option<&[bool]>) {
    let fast = ix.search(queries, k, allowed).unwrap();
    assert_eq!(fast.len(), queries.len());
    for (q, got) in queries.iter().zip(&fast) {
        let want = naive_search(ix, q, k, allowed);
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g.score as f64 - w.1).abs() < 1e-5, "rank {i}: score {} vs {}", g.score, w.1);
            let gap_before = i.checked_sub(1).map_or(f64::INFINITY, |j| (want[j].1 - w.1).abs());
            let gap_after = want.get(i + 1).map_or(f64::INFINITY, |n| (n.1 - w.1).abs());
            if gap_before > 1e-5 && gap_after > 1e-5 {
                assert_eq!(g.row, w.0, "rank {i}");
            }
        }
        if let Some(a) = allowed {
            assert!(got.iter().all(|n| a[n.row]));
        }
    }
}

#[test]
fn random_vectors_many_shapes_of_query_batch() {
    for (n, dim) in [(1, 8), (5, 3), (1000, 32), (9000, 45), (3000, 768)] {
        let ix = random_index(n, dim, n as u64);
        let mut r = rng(7 + dim as u64);
        for nq in [1, 3, 4, 9] {
            let queries: Vec<Vec<f32>> = (0..nq).map(|_| (0..dim).map(|_| r()).collect()).collect();
            for k in [1, 10, 100] {
                check_against_naive(&ix, &queries, k, None);
            }
        }
    }
}

#[test]
fn ties_come_out_in_key_order_and_k_beyond_the_table_returns_everything() {
    // Integer-valued vectors: every sum is exact in any order, so ties are exact ties.
    let dim = 16;
    let base: Vec<f16> = (0..dim).map(|i| f16::from_f32((i % 5) as f32)).collect();
    let other: Vec<f16> = (0..dim).map(|i| f16::from_f32((i % 3) as f32 - 1.0)).collect();
    let rows = (0..50).map(|i| (key(i), i % 7 == 0, if i % 2 == 0 { base.clone() } else { other.clone() })).collect();
    let ix = EmbeddingIndex::new("emb_test", dim, rows, 0).unwrap();
    let q: Vec<f32> = base.iter().map(|x| x.to_f32()).collect();
    let got = ix.search(std::slice::from_ref(&q), 1000, None).unwrap().remove(0);
    assert_eq!(got.len(), 50, "k > rows returns all rows");
    let first: Vec<usize> = got[..25].iter().map(|n| n.row).collect();
    let evens: Vec<usize> = (0..50).filter(|i| i % 2 == 0).collect();
    assert_eq!(first, evens, "exact ties in row (= key) order");
    assert!(got[..25].iter().all(|n| (n.score - 1.0).abs() < 1e-6));
    check_against_naive(&ix, &[q], 30, None);
}

#[test]
fn filters_zero_vectors_and_bad_queries() {
    let mut ix = random_index(500, 24, 3);
    let q: Vec<f32> = ix.query_of(17);
    let allowed: Vec<bool> = (0..500).map(|i| i % 4 == 1).collect();
    check_against_naive(&ix, std::slice::from_ref(&q), 20, Some(&allowed));
    let none = vec![false; 500];
    assert!(ix.search(std::slice::from_ref(&q), 20, Some(&none)).unwrap()[0].is_empty(), "empty filter, empty result");
    let self_hit = ix.search(std::slice::from_ref(&q), 1, None).unwrap();
    assert_eq!(self_hit[0][0].row, 17);
    assert!((self_hit[0][0].score - 1.0).abs() < 1e-6, "the query object itself first, score 1");
    assert!(ix.search(&[vec![0.0; 3]], 5, None).is_err(), "wrong dimension");
    assert!(ix.search(&[vec![f32::NAN; 24]], 5, None).is_err(), "non-finite query");
    assert!(ix.search(std::slice::from_ref(&q), 5, Some(&[true])).is_err(), "filter of the wrong length");
    // An all-zero stored vector scores 0, never NaN.
    let mut rows: Vec<(RowKey, bool, Vec<f16>)> = (0..ix.len()).map(|r| (ix.keys[r].clone(), true, ix.vector(r).to_vec())).collect();
    rows[3].2 = vec![f16::ZERO; 24];
    ix = EmbeddingIndex::new("emb_test", 24, rows, 0).unwrap();
    let all = ix.search(&[q], 500, None).unwrap().remove(0);
    assert!(all.iter().all(|n| n.score.is_finite()));
    assert_eq!(all.iter().find(|n| n.row == 3).unwrap().score, 0.0);
}

#[test]
fn loading_skips_null_embeddings_and_the_cache_round_trips() {
    let ard = tempfile::tempdir().unwrap();
    let dim = 8;
    let n = 40;
    let mut b = FixedSizeListBuilder::new(Float16Builder::new(), dim as i32);
    for i in 0..n {
        for j in 0..dim {
            if i % 10 == 3 {
                b.values().append_null();
            } else {
                b.values().append_value(f16::from_f32(((i * 3 + j * 5) % 11) as f32 - 5.0));
            }
        }
        b.append(i % 10 != 3);
    }
    let batch = RecordBatch::try_from_iter(vec![
        ("targetid", Arc::new(Int64Array::from_iter_values((0..n).map(|i| 500 - i as i64))) as ArrayRef),
        ("survey", Arc::new(StringArray::from(vec!["main"; n])) as ArrayRef),
        (
            "program",
            Arc::new(StringArray::from((0..n).map(|i| if i % 2 == 0 { "dark" } else { "bright" }).collect::<Vec<_>>())) as ArrayRef,
        ),
        ("zcat_primary", Arc::new(BooleanArray::from(vec![true; n])) as ArrayRef),
        ("emb_test", Arc::new(b.finish()) as ArrayRef),
    ])
    .unwrap();
    let layout = ard_store::ArdLayout::new(ard.path());
    ard_store::catalog::write_parquet(&layout.catalog_leaf(27244), &batch).unwrap();
    let (ix, cached) = ard_search::load::load(ard.path(), "emb_test").unwrap();
    assert!(!cached);
    assert_eq!((ix.len(), ix.n_null, ix.dim), (36, 4, 8));
    assert!(ix.keys.windows(2).all(|w| w[0] < w[1]), "rows sorted by key");
    assert!(ix.find(500 - 3, None, None).is_none(), "a null embedding is not searchable");
    let (again, cached) = ard_search::load::load(ard.path(), "emb_test").unwrap();
    assert!(cached);
    assert_eq!(again.keys, ix.keys);
    assert_eq!(again.vectors, ix.vectors);
    assert_eq!(again.primary, ix.primary);
    let err = ard_search::load::load(ard.path(), "emb_nope").unwrap_err().to_string();
    assert!(err.contains("emb_nope") && err.contains("emb_test"), "{err}");
    assert_eq!(ard_search::load::embedding_columns(ard.path()).unwrap(), vec![("emb_test".to_string(), 8)]);
}
