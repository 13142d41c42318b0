//! Issue 6: `desi-ard ingest --astroclip WEIGHTS` fills emb_astroclip / emb_specformer
//! (Float16 lists) for real DESI coadds, equal to the encoder's own output to f16
//! precision; without weights the columns are null with `astroclip_status = no_weights`.
//! The weights are the full-size model regenerated from the fixtures' PRNG (no trained
//! weights are shipped or downloaded).

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_desi-ard")).args(args).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn ingest_with_astroclip_weights_fills_the_embedding_columns() {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/desi");
    let raw = tempfile::tempdir().unwrap();
    for f in ["coadd-special-dark-27247.fits", "redrock-special-dark-27247.fits"] {
        std::fs::copy(testdata.join(f), raw.path().join(f)).unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    let weights = work.path().join("astroclip-prng.safetensors");
    ard_ai::prng::save_safetensors(&ard_ai::EncoderConfig::ASTROCLIP, ard_ai::prng::SEED, &weights).unwrap();
    let (with, without) = (work.path().join("with"), work.path().join("without"));
    let (ok, out) = run(&[
        "ingest",
        raw.path().to_str().unwrap(),
        with.to_str().unwrap(),
        "--quiet",
        "--no-physics",
        "--astroclip",
        weights.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["ingest", raw.path().to_str().unwrap(), without.to_str().unwrap(), "--quiet", "--no-physics"]);
    assert!(ok, "{out}");
    let sql = "SELECT astroclip_status, emb_astroclip IS NULL AS a_null, emb_specformer IS NULL AS s_null FROM catalog";
    let (ok, out) = run(&["sql", with.to_str().unwrap(), sql, "--format", "csv"]);
    assert!(ok && out.contains("ok,false,false"), "{out}");
    let (ok, out) = run(&["sql", without.to_str().unwrap(), sql, "--format", "csv"]);
    assert!(ok && out.contains("no_weights,true,true"), "{out}");
    // The same through the ARD's config file instead of the flag (relative path).
    let via_config = work.path().join("via_config");
    std::fs::create_dir_all(&via_config).unwrap();
    std::fs::write(via_config.join("desi-ard.toml"), "[ingest]\nastroclip = \"../astroclip-prng.safetensors\"\nphysics = false\n").unwrap();
    let (ok, out) = run(&["ingest", raw.path().to_str().unwrap(), via_config.to_str().unwrap(), "--quiet"]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["sql", via_config.to_str().unwrap(), sql, "--format", "csv"]);
    assert!(ok && out.contains("ok,false,false"), "{out}");
    let (ok, out) = run(&[
        "sql",
        via_config.to_str().unwrap(),
        "SELECT count(*) FROM information_schema.columns WHERE column_name = 'dn4000'",
        "--format",
        "csv",
    ]);
    assert!(ok && out.lines().nth(1) == Some("0"), "physics = false in the config: {out}");
    std::fs::write(via_config.join("desi-ard.toml"), "[ingest]\nastroclip_weights = \"x\"\n").unwrap();
    let (ok, out) = run(&["ingest", raw.path().to_str().unwrap(), via_config.to_str().unwrap(), "--quiet"]);
    assert!(!ok && out.contains("astroclip_weights"), "unknown keys are named: {out}");
    // The stored f16 values equal the encoder run directly on the merged spectrum.
    let read = desi_io::read_spectra(&raw.path().join("coadd-special-dark-27247.fits"), None, &Default::default()).unwrap();
    let enc = ard_ai::load_encoder(&weights, None).unwrap();
    let direct = enc.embed(&[read.batch.flux_of(0)]).unwrap();
    let leaf = ard_store::catalog::read_parquet(&ard_store::ArdLayout::new(&with).catalog_leaf(27247)).unwrap();
    let col = leaf.column_by_name("emb_astroclip").unwrap();
    let list = col.as_any().downcast_ref::<arrow_array::FixedSizeListArray>().unwrap();
    let values = list.value(0);
    let values = values.as_any().downcast_ref::<arrow_array::Float16Array>().unwrap();
    assert_eq!(values.len(), 1024);
    for (stored, exact) in values.values().iter().zip(&direct.astroclip[0]) {
        assert!((stored.to_f32() - exact).abs() <= 1e-3 * exact.abs().max(1.0), "{stored} vs {exact}");
    }
}
