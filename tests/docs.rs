//! The configuration reference lists every flag the binary has.

use std::process::Command;

#[test]
fn every_run_flag_is_documented() {
    let out = Command::new(env!("CARGO_BIN_EXE_appauth-operator"))
        .args(["run", "--help"])
        .output()
        .expect("run --help");
    let help = String::from_utf8_lossy(&out.stdout);
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .expect("docs");
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && *w != "--help")
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-'))
        .collect();
    assert!(flags.len() >= 20, "{flags:?}");
    let missing: Vec<&&str> = flags
        .iter()
        .filter(|f| !docs.contains(&format!("`{f}")))
        .collect();
    assert!(
        missing.is_empty(),
        "flags missing from docs/configuration.md: {missing:?}"
    );
}
