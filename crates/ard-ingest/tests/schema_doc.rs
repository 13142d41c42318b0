//! docs/schema.md is generated from the pipeline's column registry
//! (`ard_ingest::pipeline::LAYERS`) and must be current.

#[test]
fn docs_schema_md_is_current() {
    let generated = ard_ingest::pipeline::schema_markdown();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == generated, "docs/schema.md is stale: run `desi-ard schema > docs/schema.md`");
}

#[test]
fn every_layer_has_a_status_column_and_no_column_is_declared_twice() {
    let mut seen = std::collections::BTreeSet::new();
    for layer in &ard_ingest::pipeline::LAYERS {
        let cols = (layer.columns)();
        assert!(!cols.is_empty(), "layer {} declares no column", layer.name);
        if layer.name != "core" {
            let status = format!("{}_status", layer.name);
            assert!(cols.iter().any(|c| c.name == status), "layer {} has no {status} column", layer.name);
        }
        for c in cols {
            assert!(seen.insert(c.name.clone()), "column {} declared twice", c.name);
        }
    }
}
