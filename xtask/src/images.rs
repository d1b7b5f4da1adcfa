//! `cargo xtask images`: the operator, simulator and sandbox ("pause") images, built without a
//! registry or a Docker engine and written as oci-archive files that
//! `ctr -n k8s.io images import FILE` loads (one image per name the archive carries).
//!
//! - The binaries are static builds for the host's glibc target (`+crt-static`; the musl
//!   target cannot be installed offline), in their own target subdirectory.
//! - The operator and simulator images are the final stages of `deploy/Dockerfile` and
//!   `deploy/simulator/Dockerfile`, built by buildah with both external stages supplied as
//!   build contexts (the binary for `build`, a local stand-in for distroless/static), so the
//!   build stage never runs and nothing is pulled.
//! - The stand-in base and the pause image are built FROM scratch (see `base.rs`).
//!
//! Under `<cache>/images/`: `storage/` and `runroot/` (buildah's own vfs store, not the
//! system's), `work/` (build contexts, OCI layouts while exporting), and per image an archive
//! (`appauth-operator.tar`, `hwcloud-sim.tar`, `appauth-pause.tar`) plus a stamp of what it
//! holds. Tags are content hashes: an unchanged input reuses the
//! image already in the store (and an unchanged image its archive); a changed one gets a new
//! tag, so a node that has the old image still sees a new name.

mod base;
mod buildah;
mod elf;
mod oci;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use buildah::{Buildah, output};

/// The operator image's repository; its archive is `<cache>/images/appauth-operator.tar`.
pub(crate) const OPERATOR: &str = "localhost/appauth-operator";
/// The simulator image's repository; its archive is `<cache>/images/hwcloud-sim.tar`.
pub(crate) const SIMULATOR: &str = "localhost/hwcloud-sim";
/// The sandbox image's repository; its archive is `<cache>/images/appauth-pause.tar`.
pub(crate) const PAUSE: &str = "localhost/appauth-pause";
/// The operator image must stay below this uncompressed size, bytes.
pub(crate) const OPERATOR_SIZE_LIMIT: u64 = 20_000_000;
/// The base the Dockerfiles' final stages name; replaced here by the local stand-in.
const DISTROLESS: &str = "gcr.io/distroless/static-debian12:nonroot";

/// One image, exported.
#[derive(Debug, Clone)]
pub(crate) struct Image {
    /// Every name the archive carries, e.g. `localhost/appauth-operator:0.1.0-1a2b3c4d5e6f`;
    /// the first is the content-addressed one, the others come from extra tags.
    pub refs: Vec<String>,
    /// The oci-archive file.
    pub archive: PathBuf,
    /// Uncompressed: the sum of the layers' tar sizes, bytes.
    pub size: u64,
}

/// What `build_all` made.
#[derive(Debug, Clone)]
pub(crate) struct Images {
    pub operator: Image,
    pub simulator: Image,
    /// For containerd's `sandbox_image`.
    pub pause: Image,
}

/// Builds what changed and exports it, then returns every image with its archive and names
/// (`refs[0]` of each is the name to run it by). Builds on one cache directory wait for each
/// other.
/// `extra_operator_tags` name the same operator image again (`localhost/appauth-operator:TAG`,
/// in the same archive), e.g. to "upgrade" a Deployment to an identical image. Fails when a
/// binary is not static or the operator image reaches `OPERATOR_SIZE_LIMIT`.
pub(crate) fn build_all(
    root: &Path,
    cache: &Path,
    extra_operator_tags: &[String],
) -> Result<Images> {
    require_commands()?;
    for tag in extra_operator_tags {
        parse_tag(tag).map_err(anyhow::Error::msg)?;
    }
    let arch = Arch::of(std::env::consts::ARCH)?;
    let dir = cache.join("images");
    if dir.to_string_lossy().contains(':') {
        bail!(
            "{}: buildah's oci: transport cannot take a path with ':'",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir.join("work"))?;
    // One build at a time per cache directory (they share work/ and the archives); released
    // when the file is closed, also when this process dies.
    let lock = std::fs::File::create(dir.join("lock"))?;
    lock.lock().context("locking the image cache")?;
    let buildah = Buildah {
        root: dir.join("storage"),
        runroot: dir.join("runroot"),
    };
    let [operator_bin, simulator_bin] = static_binaries(root, arch)?;
    let base = base::stand_in(&buildah, &dir.join("work"))?;
    let operator = Stage {
        repo: OPERATOR,
        manifest: "Cargo.toml",
        dockerfile: "deploy/Dockerfile",
        binary: operator_bin,
    };
    let simulator = Stage {
        repo: SIMULATOR,
        manifest: "sim/Cargo.toml",
        dockerfile: "deploy/simulator/Dockerfile",
        binary: simulator_bin,
    };
    let operator = operator.build(&buildah, root, &dir, &base, arch)?;
    let extra = extra_operator_tags
        .iter()
        .map(|tag| format!("{OPERATOR}:{tag}"));
    let operator = export(&buildah, &dir, &[vec![operator], extra.collect()].concat())?;
    let simulator = simulator.build(&buildah, root, &dir, &base, arch)?;
    let simulator = export(&buildah, &dir, &[simulator])?;
    let pause = base::pause(&buildah, root, &dir.join("work"))?;
    let pause = export(&buildah, &dir, &[pause])?;
    let images = Images {
        operator,
        simulator,
        pause,
    };
    for image in images.all() {
        println!(
            "{:>5.1} MB  {}  ({})",
            image.size as f64 / 1e6,
            image.refs.join(" "),
            image.archive.display()
        );
    }
    check_size(&images.operator, OPERATOR_SIZE_LIMIT)?;
    Ok(images)
}

impl Images {
    /// Operator, simulator, pause.
    pub(crate) fn all(&self) -> [&Image; 3] {
        [&self.operator, &self.simulator, &self.pause]
    }
}

/// `--tag`: a Docker tag (letters, digits, `_`, `.`, `-`; not starting with `.` or `-`).
pub(crate) fn parse_tag(tag: &str) -> Result<String, String> {
    let valid_first = tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
    let valid_rest = tag
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !valid_first || !valid_rest || tag.len() > 128 {
        return Err(format!("{tag:?} is not a valid image tag"));
    }
    Ok(tag.to_string())
}

/// The host's Rust target and BuildKit's TARGETARCH for it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Arch {
    triple: &'static str,
    docker: &'static str,
}

impl Arch {
    fn of(arch: &str) -> Result<Self> {
        let (triple, docker) = match arch {
            "x86_64" => ("x86_64-unknown-linux-gnu", "amd64"),
            "aarch64" => ("aarch64-unknown-linux-gnu", "arm64"),
            other => bail!("images are built for amd64 or arm64 hosts, not {other}"),
        };
        Ok(Arch { triple, docker })
    }
}

fn require_commands() -> Result<()> {
    let missing: Vec<_> = [("buildah", "buildah"), ("cc", "gcc"), ("make", "make")]
        .into_iter()
        .filter(|(cmd, _)| !crate::prereq::on_path(cmd))
        .map(|(cmd, package)| format!("`{cmd}` is not on PATH (Debian: apt-get install {package})"))
        .collect();
    if !missing.is_empty() {
        bail!("the images need:\n  - {}", missing.join("\n  - "));
    }
    Ok(())
}

/// The operator and simulator as static binaries (checked), read into memory.
fn static_binaries(root: &Path, arch: Arch) -> Result<[Vec<u8>; 2]> {
    const BINS: [(&str, &str); 2] = [
        ("appauth-operator", "appauth-operator"),
        ("hwcloud-sim", "hwcloud-sim"),
    ];
    eprintln!(
        "xtask: static release build of the operator and the simulator ({})",
        arch.triple
    );
    let mut cargo = crate::cargo_locked("build");
    cargo.args(["--release", "--target", arch.triple]);
    for (package, bin) in BINS {
        cargo.args(["-p", package, "--bin", bin]);
    }
    // With an explicit --target, RUSTFLAGS stay off build scripts and proc macros, and the
    // build has its own directory (target/<triple>/release): target/release is not rebuilt.
    crate::check(
        cargo
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env_remove("CARGO_ENCODED_RUSTFLAGS"),
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |dir| root.join(dir));
    let release = target.join(arch.triple).join("release");
    let [operator, simulator] = BINS.map(|(_, bin)| release.join(bin));
    Ok([read_static(&operator)?, read_static(&simulator)?])
}

/// The bytes of a binary that must be static; it must also run (`--version`).
fn read_static(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let deps = elf::dynamic_dependencies(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if !deps.is_empty() {
        bail!("{} is not static: {}", path.display(), deps.join(", "));
    }
    output(Command::new(path).arg("--version"))?;
    Ok(bytes)
}

/// A Dockerfile whose final stage copies one static binary onto the distroless base.
struct Stage {
    repo: &'static str,
    /// The Cargo.toml whose version starts the tag.
    manifest: &'static str,
    dockerfile: &'static str,
    binary: Vec<u8>,
}

impl Stage {
    /// Builds the final stage unless an image of the same inputs is in the store; returns its
    /// content-addressed name.
    fn build(
        &self,
        buildah: &Buildah,
        root: &Path,
        dir: &Path,
        base: &str,
        arch: Arch,
    ) -> Result<String> {
        let read =
            |file: &str| std::fs::read(root.join(file)).with_context(|| format!("reading {file}"));
        let dockerfile = read(self.dockerfile)?;
        let manifest = String::from_utf8(read(self.manifest)?)?;
        let version = package_version(&manifest)
            .with_context(|| format!("no literal [package] version in {}", self.manifest))?;
        let inputs: [&[u8]; 4] = [
            &dockerfile,
            &self.binary,
            base.as_bytes(),
            arch.docker.as_bytes(),
        ];
        let image = format!("{}:{}", self.repo, content_tag(version, &inputs));
        if buildah.image_id(&image).is_some() {
            return Ok(image);
        }
        eprintln!(
            "xtask: building {image} (final stage of {})",
            self.dockerfile
        );
        // The build context and the `build` stage's stand-in: out/<binary>, as the build
        // stage leaves it.
        let name = self.repo.rsplit('/').next().unwrap_or(self.repo);
        let context = dir.join("work").join(name);
        if context.exists() {
            std::fs::remove_dir_all(&context)?;
        }
        std::fs::create_dir_all(context.join("out"))?;
        let binary = context.join("out").join(name);
        std::fs::write(&binary, &self.binary)?;
        std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        buildah.run([
            OsStr::new("build"),
            OsStr::new("--quiet"),
            OsStr::new("--pull=never"),
            OsStr::new("--layers=false"),
            // Reproducible: equal inputs give an equal image id.
            OsStr::new("--timestamp=0"),
            OsStr::new("--identity-label=false"),
            format!("--build-arg=TARGETARCH={}", arch.docker).as_ref(),
            format!("--build-context=build={}", context.display()).as_ref(),
            format!("--build-context={DISTROLESS}=container-image://{base}").as_ref(),
            OsStr::new("--file"),
            root.join(self.dockerfile).as_os_str(),
            OsStr::new("--tag"),
            image.as_ref(),
            context.as_os_str(),
        ])?;
        std::fs::remove_dir_all(&context)?;
        buildah.prune(&image)?;
        Ok(image)
    }
}

/// Writes `<dir>/<name>.tar` with every one of `refs` (all naming the image `refs[0]`) unless
/// its stamp says it holds exactly that already.
fn export(buildah: &Buildah, dir: &Path, refs: &[String]) -> Result<Image> {
    let first = refs.first().context("an image needs a name")?;
    let name = first.rsplit('/').next().unwrap_or(first);
    let name = name.split(':').next().unwrap_or(name);
    let archive = dir.join(format!("{name}.tar"));
    let stamp_path = dir.join(format!("{name}.stamp"));
    let id = buildah
        .image_id(first)
        .with_context(|| format!("{first} is not in the image store"))?;
    let stamp = std::fs::read_to_string(&stamp_path).unwrap_or_default();
    if let Some(size) = archived_size(&stamp, &id, refs).filter(|_| archive.is_file()) {
        return Ok(Image {
            refs: refs.to_vec(),
            archive,
            size,
        });
    }
    eprintln!("xtask: writing {}", archive.display());
    let layout = dir.join("work").join(format!("{name}.oci"));
    if layout.exists() {
        std::fs::remove_dir_all(&layout)?;
    }
    for name in refs {
        let dest = format!("oci:{}:{name}", layout.display());
        buildah.run(["push", "--quiet", first, &dest].map(OsStr::new))?;
    }
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json"))?)?;
    let manifest = index["manifests"][0]["digest"]
        .as_str()
        .context("empty OCI index")?;
    let size = oci::image_size(&layout, manifest)?;
    let names = oci::archive_layout(&layout, &archive)?;
    if names != refs {
        bail!("{} carries {names:?}, not {refs:?}", archive.display());
    }
    std::fs::remove_dir_all(&layout)?;
    let stamp = json!({"id": id, "refs": refs, "size": size});
    std::fs::write(&stamp_path, format!("{stamp:#}\n"))?;
    Ok(Image {
        refs: refs.to_vec(),
        archive,
        size,
    })
}

/// The size a stamp records, if it is for image `id` under exactly `refs`.
fn archived_size(stamp: &str, id: &str, refs: &[String]) -> Option<u64> {
    let stamp: Value = serde_json::from_str(stamp).ok()?;
    let same = stamp["id"] == id && stamp["refs"] == json!(refs);
    same.then(|| stamp["size"].as_u64()).flatten()
}

/// `<prefix>-<12 hex digits of a hash of the inputs>` (each input length-prefixed, so that
/// moving bytes from one input to the next changes the tag); just the digits with no prefix.
fn content_tag(prefix: &str, inputs: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for input in inputs {
        hash.update((input.len() as u64).to_le_bytes());
        hash.update(input);
    }
    let digits = &crate::tools::hex(&hash.finalize())[..12];
    if prefix.is_empty() {
        digits.to_string()
    } else {
        format!("{prefix}-{digits}")
    }
}

/// The literal `version` of a manifest's `[package]` table.
fn package_version(manifest: &str) -> Option<&str> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            let value = line.strip_prefix("version").map(str::trim_start);
            if let Some(value) = value.and_then(|v| v.strip_prefix('=')) {
                return value.trim().strip_prefix('"')?.strip_suffix('"');
            }
        }
    }
    None
}

fn check_size(image: &Image, limit: u64) -> Result<()> {
    if image.size >= limit {
        bail!(
            "{} is {:.1} MB uncompressed; it must stay below {:.1} MB",
            image.refs[0],
            image.size as f64 / 1e6,
            limit as f64 / 1e6
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
