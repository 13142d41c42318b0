"""Space the physics fit's model datasets take in an ARD's spectra files (issue 17 item 1),
and the chi-square check from the stored arrays.

    desi-ard simulate /tmp/m1/raw --objects 40 --seed 3 --quiet
    desi-ard ingest /tmp/m1/raw /tmp/m1/ard --quiet
    python scripts/bench/model_storage.py /tmp/m1/ard      # needs h5py, duckdb, numpy

Prints the stored (compressed) bytes of every dataset summed over the pixel files, the
model datasets' share relative to flux + ivar + mask, and the range of
chi2(stored model) / (fit_chi2_dof * fit_dof) over the fitted objects.
"""
import glob
import sys

import duckdb
import h5py
import numpy as np

root = sys.argv[1]
files = glob.glob(f"{root}/spectra/**/*.h5", recursive=True)
rows = duckdb.connect().execute(
    f"SELECT targetid, survey, program, fit_chi2_dof, fit_dof FROM read_parquet('{root}/catalog/**/Npix=*.parquet')"
).fetchall()
catalogue = {(r[0], r[1], r[2]): r for r in rows}
stored = dict.fromkeys(["flux", "ivar", "mask", "model", "model_lines", "fit_mask"], 0)
ratios = []
for path in files:
    with h5py.File(path) as h:
        for name in stored:
            stored[name] += h[name].id.get_storage_size()
        for i, t in enumerate(h["targetid"][:]):
            r = catalogue[(int(t), h["survey"][i].decode(), h["program"][i].decode())]
            if r[3] is None:
                continue
            used = h["fit_mask"][i].astype(bool)
            chi2 = np.sum(((h["flux"][i] - h["model"][i]) ** 2 * h["ivar"][i])[used])
            ratios.append(chi2 / (r[3] * r[4]))
data = stored["flux"] + stored["ivar"] + stored["mask"]
extra = stored["model"] + stored["model_lines"] + stored["fit_mask"]
print(f"{len(files)} files, {len(rows)} spectra; stored bytes: {stored}")
print(f"model datasets add {100 * extra / data:.1f} % to flux + ivar + mask ({data / len(rows) / 1e3:.1f} KB per spectrum compressed)")
print(f"chi2(stored model) / (fit_chi2_dof * fit_dof): {min(ratios):.5f} .. {max(ratios):.5f} over {len(ratios)} fits")
