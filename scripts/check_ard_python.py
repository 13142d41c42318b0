#!/usr/bin/env python3
"""Open an ARD with pyarrow, DuckDB, hats/lsdb and h5py; print what they find as JSON.

Usage: check_ard_python.py ARD RA DEC RADIUS_ARCSEC TARGETID
Used by crates/desi-ard/tests/python_peers.rs, which compares with desi-ard sql/spectrum.
"""
import glob, json, logging, sys, warnings
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
import duckdb, h5py, numpy as np, pyarrow.parquet as pq
import hats, lsdb
from hats.io.validation import is_valid_catalog

ard, ra, dec, radius, tid = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
out = {}
out["hats_valid_collection"] = bool(is_valid_catalog(f"{ard}/catalog", strict=True))
out["hats_valid_catalog"] = bool(is_valid_catalog(f"{ard}/catalog/desi_ard", strict=True))
out["hats_valid_exposures"] = bool(is_valid_catalog(f"{ard}/exposures", strict=True))
out["lsdb_exposure_rows"] = int(len(lsdb.read_hats(f"{ard}/exposures").compute()))
t = pq.read_table(f"{ard}/catalog/desi_ard/dataset")
out["pyarrow_rows"] = t.num_rows
out["pyarrow_sum_z"] = float(np.nansum(t.column("z").to_numpy(zero_copy_only=False)))
rows = duckdb.sql(
    f"SELECT survey, program, count(*) AS n, avg(z) AS mz FROM read_parquet('{ard}/catalog/desi_ard/dataset/**/*.parquet') "
    "GROUP BY survey, program ORDER BY survey, program").fetchall()
out["duckdb_groups"] = [[s, p, int(n), float(mz)] for s, p, n, mz in rows]
cat = lsdb.read_hats(f"{ard}/catalog")
out["lsdb_rows"] = int(len(cat.compute()))
cone = cat.cone_search(ra, dec, radius).compute()
out["lsdb_cone_targetids"] = sorted(int(x) for x in cone["targetid"])
out["lsdb_margin"] = cat.margin is not None
# Each catalogue leaf names the spectra file of its version in its key-value metadata.
for leaf in sorted(glob.glob(f"{ard}/catalog/desi_ard/dataset/**/Npix=*.parquet", recursive=True)):
    f = f"{ard}/" + pq.read_metadata(leaf).metadata[b"desi_ard.spectra"].decode()
    with h5py.File(f, "r") as h:
        ids = h["targetid"][:]
        k = np.searchsorted(ids, tid)
        if k < len(ids) and ids[k] == tid:
            out["h5py_file"] = f.split("/spectra/")[1]
            out["h5py_flux_sum"] = float(np.sum(h["flux"][k].astype(np.float64)))
            out["h5py_ivar_sum"] = float(np.sum(h["ivar"][k].astype(np.float64)))
            out["h5py_nwave"] = int(h["wavelength"].shape[0])
            out["h5py_chunks"] = list(h["flux"].chunks)
            break
print(json.dumps(out))
