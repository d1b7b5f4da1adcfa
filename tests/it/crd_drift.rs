//! The committed CRD YAML must be exactly what the Rust types generate.

use appauth_operator::crdgen;
use std::path::Path;

#[test]
fn committed_crds_match_the_rust_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stale = Vec::new();
    let generated = crdgen::crds();
    for (file, crd) in &generated {
        let want = crdgen::to_yaml(crd).expect("CRD serializes");
        let path = root.join("crds").join(file);
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "CRD YAML out of date: {stale:?}; regenerate with `cargo run -- crd --out-dir crds`"
    );
    let committed = std::fs::read_dir(root.join("crds"))
        .expect("crds/ exists")
        .count();
    assert_eq!(
        committed,
        generated.len(),
        "crds/ holds files the types do not generate"
    );
}
