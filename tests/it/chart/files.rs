//! The files beside the templates: the chart's and the base's CRDs are the top-level `crds/`,
//! byte for byte; the image recipe builds a static binary onto a minimal non-root base.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::support::root;
#[test]
fn chart_and_base_crds_are_the_top_level_crds() {
    let read = |dir: PathBuf| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).expect("CRD file"),
                )
            })
            .collect()
    };
    let top = read(root().join("crds"));
    assert_eq!(
        top.len(),
        4,
        "crds/ holds GatewayApp, InferenceApi, AppAuthPolicy and AppAuthGrantSet"
    );
    for copy in ["charts/appauth-operator/crds", "deploy/base/crds"] {
        let other = read(root().join(copy));
        assert_eq!(
            other.keys().collect::<Vec<_>>(),
            top.keys().collect::<Vec<_>>(),
            "{copy} has the same files as crds/"
        );
        for (file, bytes) in &top {
            assert!(
                &other[file] == bytes,
                "{copy}/{file} differs from crds/{file}: after regenerating the CRDs run \
                 `cp crds/*.yaml {copy}/`"
            );
        }
    }
}

/// The image recipe (only its final stage is built here, by `cargo xtask images`: no registry):
/// two stages, a static musl binary checked for static linking, a distroless (or scratch) base,
/// non-root.
#[test]
fn dockerfile_builds_a_static_binary_onto_a_minimal_non_root_base() {
    let text = std::fs::read_to_string(root().join("deploy/Dockerfile")).expect("Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "a build stage and a run stage: {froms:?}");
    assert!(froms[0].ends_with(" AS build"), "{}", froms[0]);
    assert!(
        froms[1].contains("distroless/static") || froms[1] == "FROM scratch",
        "minimal static base: {}",
        froms[1]
    );
    assert!(text.contains("x86_64-unknown-linux-musl"), "musl target");
    assert!(
        text.contains("cargo build --release --locked"),
        "locked release build"
    );
    assert!(
        text.contains("program interpreter") && text.contains("NEEDED"),
        "static check"
    );
    let run_stage = &text[text.rfind("\nFROM ").expect("run stage")..];
    assert!(
        run_stage.contains("COPY --from=build"),
        "only the binary is copied"
    );
    assert!(
        run_stage.contains("USER 65532:65532"),
        "non-root, matching the chart's runAsUser"
    );
    assert!(run_stage.contains("ENTRYPOINT [\"/usr/local/bin/appauth-operator\"]"));
    // Nothing in the dependency tree links OpenSSL (TLS is rustls).
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("Cargo.lock");
    for native in ["openssl-sys", "native-tls", "aws-lc-sys"] {
        assert!(
            !lock.contains(&format!("name = \"{native}\"")),
            "{native} in Cargo.lock: the static musl image needs a pure-Rust TLS stack"
        );
    }
}
