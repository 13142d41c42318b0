#!/usr/bin/env python3
"""FAISS peer for desi-ard's exact k-nearest-neighbour search (issue 8).

Reads n x d Float16 vectors (raw little-endian) and nq x d float32 queries (raw), builds
a faiss-cpu IndexFlatIP on the L2-normalised float32 vectors (inner product = cosine),
and prints JSON: the top-k ids and scores of every query, the time of a 1-query search
and of the whole batch (best of --repeat), the index's memory and the process's peak RSS.
Used by crates/ard-search/tests/faiss_peer.rs and benches/knn_vs_faiss.rs.
"""
import argparse
import json
import resource
import time

import faiss
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--vectors", required=True)
p.add_argument("--n", type=int, required=True)
p.add_argument("--d", type=int, required=True)
p.add_argument("--queries", required=True)
p.add_argument("--k", type=int, default=100)
p.add_argument("--repeat", type=int, default=3)
p.add_argument("--no-ids", action="store_true", help="print timings only")
a = p.parse_args()

x16 = np.memmap(a.vectors, dtype="<f2", mode="r", shape=(a.n, a.d))
q = np.fromfile(a.queries, dtype="<f4").reshape(-1, a.d).copy()
faiss.normalize_L2(q)
index = faiss.IndexFlatIP(a.d)
t0 = time.perf_counter()
chunk = 100_000
for s in range(0, a.n, chunk):
    block = np.ascontiguousarray(x16[s : s + chunk], dtype=np.float32)
    norms = np.linalg.norm(block, axis=1, keepdims=True)
    block /= np.where(norms > 0, norms, 1.0)
    index.add(block)
t_add = time.perf_counter() - t0
del x16


def best(f):
    ts = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t)
    return min(ts), out


t1, _ = best(lambda: index.search(q[:1], a.k))
tb, (scores, ids) = best(lambda: index.search(q, a.k))
res = {
    "faiss": faiss.__version__,
    "threads": faiss.omp_get_max_threads(),
    "t_add": t_add,
    "t_search_1": t1,
    "t_search_batch": tb,
    "nq": int(q.shape[0]),
    "index_bytes": int(index.ntotal) * a.d * 4,
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}
if not a.no_ids:
    res["ids"] = ids.tolist()
    res["scores"] = scores.tolist()
print(json.dumps(res))
