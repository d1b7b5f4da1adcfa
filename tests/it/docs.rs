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

/// What a reader of the repository alone cannot follow: a section number of a contract that is
/// not shipped, an issue number, or a link that leaves the repository. One finding per line.
fn outside_references(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    if line.contains('§') {
        found.push("a section number (§)".to_string());
    }
    let words = line.split(|c: char| !c.is_ascii_alphanumeric());
    if words.clone().any(|w| w == "SPEC") {
        found.push("a reference to SPEC, which is not in the repository".to_string());
    }
    let lower = line.to_ascii_lowercase();
    for (at, _) in lower.match_indices("issue") {
        let rest = lower[at + "issue".len()..].trim_start_matches('s');
        let rest = rest.trim_start().trim_start_matches('#');
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            found.push("an issue number".to_string());
        }
    }
    if line.contains("../shared") {
        found.push("a path outside the repository (../shared)".to_string());
    }
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let target = &after[..end];
        if target.starts_with("http://") || target.starts_with("https://") {
            found.push(format!("a link outside the repository: {target}"));
        }
        rest = &after[end..];
    }
    found
}

/// Relative Markdown link targets of a line (anchors and web links left out).
fn relative_links(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let target = after[..end].split('#').next().unwrap_or_default();
        if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
            out.push(target);
        }
        rest = &after[end..];
    }
    out
}

/// Every file a user reads: Markdown anywhere, and everything in the chart, the kustomize base,
/// the Argo CD checks and the examples.
fn shipped_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, all: bool, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() {
                if name == "target" || name.starts_with('.') {
                    continue;
                }
                let shipped = ["charts", "deploy", "examples"].contains(&name.as_str());
                walk(&path, all || shipped, out);
            } else if all || name.ends_with(".md") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, false, &mut out);
    out.sort();
    out
}

#[test]
fn the_checker_finds_each_kind_of_outside_reference() {
    let cases = [
        ("see SPEC §3.4 for the order", 2),
        ("The contract is in [SPEC](../shared/SPEC.md)", 2),
        ("**Reliability** (issue 7): bursts", 1),
        ("fixed in issues #12", 1),
        ("read [the guide](https://example.org/guide)", 1),
        ("the spec.secret field, issued tokens, 3 issues found", 0),
        ("see [operations](docs/operations.md#rbac)", 0),
    ];
    for (line, want) in cases {
        let found = outside_references(line);
        assert_eq!(found.len(), want, "{line:?}: {found:?}");
    }
    assert_eq!(
        relative_links("[a](docs/a.md#x) [b](#anchor) [c](https://x.org) [d](../d.md)"),
        vec!["docs/a.md", "../d.md"]
    );
}

/// The README and docs stand on their own for someone who has only the repository.
#[test]
fn shipped_text_refers_to_nothing_outside_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .expect("repository root");
    let files = shipped_files(&root);
    assert!(
        files.iter().any(|f| f.ends_with("README.md"))
            && files.iter().any(|f| f.ends_with("health.lua"))
            && files.iter().any(|f| f.ends_with("values.yaml")),
        "the walk found too little: {files:?}"
    );
    let mut problems = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        for (n, line) in text.lines().enumerate() {
            for what in outside_references(line) {
                problems.push(format!("{shown}:{}: {what}", n + 1));
            }
            if !shown.ends_with(".md") {
                continue;
            }
            for target in relative_links(line) {
                let dir = file.parent().unwrap_or(&root);
                match dir.join(target).canonicalize() {
                    Ok(path) if path.starts_with(&root) => {}
                    Ok(_) => problems.push(format!(
                        "{shown}:{}: a link outside the repository: {target}",
                        n + 1
                    )),
                    Err(_) => problems.push(format!("{shown}:{}: a broken link: {target}", n + 1)),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Each condition reason has its section in the troubleshooting page: what it means, what to do.
#[test]
fn every_condition_reason_has_a_troubleshooting_entry() {
    use appauth_operator::controller::status::Reason;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("docs/troubleshooting.md")).expect("the page");
    let headings: Vec<&str> = page
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .collect();
    let missing: Vec<&str> = Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .filter(|r| !headings.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md has no section for {missing:?}"
    );
    assert!(
        headings.len() >= Reason::ALL.len(),
        "the page has a section per reason"
    );
}

/// The changelog has a section for the version being built, and the chart deploys it.
#[test]
fn the_changelog_and_the_chart_name_this_version() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let version = env!("CARGO_PKG_VERSION");
    let changelog = std::fs::read_to_string(root.join("CHANGELOG.md")).expect("CHANGELOG.md");
    assert!(
        changelog
            .lines()
            .any(|l| l.starts_with(&format!("## {version} ")) || l == format!("## {version}")),
        "CHANGELOG.md has no section for {version}"
    );
    let chart =
        std::fs::read_to_string(root.join("charts/appauth-operator/Chart.yaml")).expect("chart");
    assert!(
        chart
            .lines()
            .any(|l| l == format!("appVersion: \"{version}\"")),
        "Chart.yaml's appVersion is not {version}"
    );
}
