#!/usr/bin/env python3
"""Write a 5 M-row synthetic catalogue (50 zstd leaves x 100k rows, 22 columns) in the ARD
layout for the SQL-vs-DuckDB benchmark. Usage: make_5m_catalog.py OUT (needs hats, pyarrow)."""
import numpy as np, pyarrow as pa, pyarrow.parquet as pq, os, sys
from hats.pixel_math.spatial_index import compute_spatial_index
import hats.pixel_math.healpix_shim as hp
root=sys.argv[1]; ds=f"{root}/catalog/desi_ard/dataset"
rng=np.random.default_rng(1)
schema=None
for leaf in range(50):
    pix=27000+leaf
    n=100_000
    ra0,dec0=150.0+0.5*(leaf%10), 2.0+0.5*(leaf//10)
    ra=ra0+(rng.random(n)-0.5)*0.4; dec=dec0+(rng.random(n)-0.5)*0.4
    h=compute_spatial_index(ra,dec)
    o=np.argsort(h,kind="stable")
    cols={"_healpix_29":h[o].astype(np.int64),
      "targetid":(39600000000000000+leaf*1000000+np.arange(n)).astype(np.int64)[o],
      "survey":np.array(["main"]*n)[o],"program":np.where(np.arange(n)%3==0,"bright","dark")[o],
      "target_ra":ra[o],"target_dec":dec[o],"healpix":(h[o]>>46).astype(np.int32),
      "z":(rng.random(n)*1.5)[o],"zerr":(rng.random(n)*1e-4).astype("f4")[o],
      "zwarn":np.where(rng.random(n)<0.05,4,0).astype(np.int64)[o],
      "spectype":np.array(["GALAXY","QSO","STAR"])[rng.integers(0,3,n)][o],
      "deltachi2":(rng.random(n)*1000).astype("f4")[o]}
    for b in ["g","r","z","w1","w2"]: cols[f"flux_{b}"]=(rng.random(n)*100).astype("f4")[o]
    for c in ["snr_b","snr_r","snr_z"]: cols[c]=(rng.random(n)*10).astype("f4")[o]
    cols["zcat_primary"]=(np.arange(n)%17!=0)[o]
    t=pa.table(cols); schema=t.schema
    d=f"{ds}/Norder=6/Dir=20000"; os.makedirs(d,exist_ok=True)
    pq.write_table(t,f"{d}/Npix={pix}.parquet",compression="zstd",compression_level=3)
pq.write_metadata(schema,f"{ds}/_common_metadata")
print("ok")
