//! docs/schema.md is generated from the column specs and must be current.

#[test]
fn docs_schema_md_is_current() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_desi-ard")).arg("schema").output().unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == generated, "docs/schema.md is stale: run `desi-ard schema > docs/schema.md`");
}
