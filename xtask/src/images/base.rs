//! The images built FROM scratch: a stand-in for `gcr.io/distroless/static-debian12:nonroot`
//! (what the Dockerfiles' final stages start from) and the sandbox ("pause") image.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::buildah::{Buildah, output};
use super::oci::{Entry, tar};
use super::{PAUSE, content_tag, elf};

/// The stand-in's repository (its tag is a hash of its contents).
const STAND_IN: &str = "localhost/distroless-static";
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
const NONROOT: u32 = 65532;

/// distroless/static's shape: root and nonroot (65532) users, name lookups from files then
/// DNS, the host's CA bundle where distroless has Debian's, a sticky world-writable /tmp, the
/// nonroot home; no shell, no package manager, no libc.
fn stand_in_rootfs(ca_bundle: Vec<u8>) -> Vec<Entry> {
    let passwd = "root:x:0:0:root:/root:/sbin/nologin\n\
                  nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
                  nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
    let group = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n";
    vec![
        Entry::dir("etc", 0o755, 0),
        Entry::file("etc/group", 0o644, group.into()),
        Entry::file("etc/nsswitch.conf", 0o644, b"hosts: files dns\n".to_vec()),
        Entry::file("etc/passwd", 0o644, passwd.into()),
        Entry::dir("etc/ssl", 0o755, 0),
        Entry::dir("etc/ssl/certs", 0o755, 0),
        Entry::file("etc/ssl/certs/ca-certificates.crt", 0o644, ca_bundle),
        Entry::dir("home", 0o755, 0),
        Entry::dir("home/nonroot", 0o700, NONROOT),
        Entry::dir("root", 0o700, 0),
        Entry::dir("tmp", 0o1777, 0),
    ]
}

/// distroless/static:nonroot's configuration.
const STAND_IN_CONFIG: &[&str] = &[
    "--user=65532",
    "--workingdir=/home/nonroot",
    "--env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "--env=SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
];

/// Builds the distroless stand-in unless the store has it; returns its name.
pub(super) fn stand_in(buildah: &Buildah, work: &Path) -> Result<String> {
    let ca_bundle = std::fs::read(CA_BUNDLE).with_context(|| {
        format!("reading {CA_BUNDLE} (Debian: apt-get install ca-certificates)")
    })?;
    let rootfs = tar(&stand_in_rootfs(ca_bundle))?;
    let image = format!(
        "{STAND_IN}:{}",
        content_tag("nonroot", &[&rootfs, STAND_IN_CONFIG.join(" ").as_bytes()])
    );
    if buildah.image_id(&image).is_none() {
        eprintln!("xtask: building {image} (the distroless/static stand-in)");
        buildah.scratch_image(work, &image, &rootfs, STAND_IN_CONFIG)?;
        // Images built on an older stand-in keep its layers; only its name goes.
        buildah.prune(&image)?;
    }
    Ok(image)
}

/// The pause image's configuration (the user of Kubernetes' own pause image).
const PAUSE_CONFIG: &[&str] = &["--entrypoint=[\"/pause\"]", "--user=65535:65535"];

/// Builds the pause image (`xtask/pause/pause.c`, compiled static) unless the store has it;
/// returns its name.
pub(super) fn pause(buildah: &Buildah, root: &Path, work: &Path) -> Result<String> {
    let source_path = root.join("xtask/pause/pause.c");
    let source = std::fs::read(&source_path)?;
    let cc = output(Command::new("cc").arg("--version"))?;
    let compiler = cc.lines().next().unwrap_or_default();
    let config = PAUSE_CONFIG.join(" ");
    let inputs: [&[u8]; 3] = [&source, compiler.as_bytes(), config.as_bytes()];
    let image = format!("{PAUSE}:{}", content_tag("", &inputs));
    if buildah.image_id(&image).is_some() {
        return Ok(image);
    }
    eprintln!("xtask: building {image} (the sandbox image)");
    let binary = work.join("pause");
    output(
        Command::new("cc")
            .args(["-static", "-O2", "-s", "-Wall", "-o"])
            .arg(&binary)
            .arg(&source_path),
    )?;
    let bytes = std::fs::read(&binary)?;
    let deps = elf::dynamic_dependencies(&bytes).map_err(anyhow::Error::msg)?;
    if !deps.is_empty() {
        bail!("pause is not static: {}", deps.join(", "));
    }
    std::fs::remove_file(&binary)?;
    let rootfs = tar(&[Entry::file("pause", 0o755, bytes)])?;
    buildah.scratch_image(work, &image, &rootfs, PAUSE_CONFIG)?;
    buildah.prune(&image)?;
    Ok(image)
}
