//! The search against its named peer, live: faiss-cpu's exact `IndexFlatIP` on the same
//! vectors (normalised float32 copies of our Float16 values) returns the same top-100
//! neighbours, scores within 1e-5, for a batch of queries (when `DESI_ARD_PEER_PYTHON` has
//! faiss; `scripts/test.sh` sets it up).

use std::path::Path;

use ard_search::{EmbeddingIndex, RowKey};
use half::f16;

#[test]
fn same_neighbours_as_faiss_index_flat_ip() {
    let Some(py) = ard_testkit::peer_python() else { return };
    let (n, dim, k) = (20_000, 64, 100);
    let mut s = 99u64;
    let mut r = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let rows: Vec<(RowKey, bool, Vec<f16>)> = (0..n)
        .map(|i| {
            (
                RowKey { targetid: i as i64, survey: "main".into(), program: "dark".into() },
                true,
                (0..dim).map(|_| f16::from_f32(r())).collect(),
            )
        })
        .collect();
    let ix = EmbeddingIndex::new("emb_test", dim, rows, 0).unwrap();
    let queries: Vec<Vec<f32>> = (0..7).map(|i| ix.query_of(i * 1000)).collect();
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peers/faiss_knn.py");
    let peer = ard_search::peer::run_faiss(Path::new(&py), &script, dir.path(), &ix.vectors, dim, &queries, k, true).unwrap();
    let ours = ix.search(&queries, k, None).unwrap();
    for (q, (mine, (ids, scores))) in ours.iter().zip(peer.ids.iter().zip(&peer.scores)).enumerate() {
        assert_eq!(mine.len(), ids.len());
        for (i, n) in mine.iter().enumerate() {
            assert!((n.score - scores[i]).abs() < 1e-5, "query {q} rank {i}: {} vs faiss {}", n.score, scores[i]);
            let near_tie =
                (i > 0 && (scores[i - 1] - scores[i]).abs() < 1e-5) || (i + 1 < scores.len() && (scores[i + 1] - scores[i]).abs() < 1e-5);
            if !near_tie {
                assert_eq!(n.row as i64, ids[i], "query {q} rank {i}");
            }
        }
    }
}
