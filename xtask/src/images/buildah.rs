//! buildah with a store of its own under the cache directory (vfs: no mounts, any file
//! system; nothing shared with the system's containers-storage).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// buildah with its own store under the cache directory (vfs: no mounts, any file system).
pub(crate) struct Buildah {
    pub root: PathBuf,
    pub runroot: PathBuf,
}

impl Buildah {
    fn command(&self) -> Command {
        let mut cmd = Command::new("buildah");
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(["--storage-driver", "vfs"]);
        cmd
    }

    /// Runs buildah, returning its standard output (its errors go to ours).
    pub fn run<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Result<String> {
        output(self.command().args(args))
    }

    /// The id of the image `name` names, if the store has it.
    pub fn image_id(&self, name: &str) -> Option<String> {
        let out = self
            .command()
            .args([
                "inspect",
                "--type",
                "image",
                "--format",
                "{{.FromImageID}}",
                name,
            ])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let id = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !id.is_empty()).then_some(id)
    }
}

/// Runs `cmd`, returning its trimmed standard output; fails on a non-zero exit.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl Buildah {
    /// Removes the other images of `keep`'s repository: older builds, each a full copy of its
    /// layers (vfs shares nothing), would otherwise pile up in the store.
    pub fn prune(&self, keep: &str) -> Result<()> {
        let repo = |name: &str| name.rsplit_once(':').map(|(repo, _)| repo.to_string());
        let names = self.run(["images", "--format", "{{.Name}}:{{.Tag}}"])?;
        for name in names.lines() {
            if name != keep && repo(name) == repo(keep) {
                self.run(["rmi", name])?;
            }
        }
        Ok(())
    }

    /// Commits an image named `image` FROM scratch: the tar `rootfs` (extracted with its
    /// owners and modes) and the `buildah config` arguments `config`.
    pub fn scratch_image(
        &self,
        work: &Path,
        image: &str,
        rootfs: &[u8],
        config: &[&str],
    ) -> Result<()> {
        let tar = work.join("rootfs.tar");
        std::fs::write(&tar, rootfs).with_context(|| format!("writing {}", tar.display()))?;
        let container = self.run(["from", "--quiet", "scratch"])?;
        let built = (|| {
            self.run([
                OsStr::new("add"),
                OsStr::new("--quiet"),
                container.as_ref(),
                tar.as_os_str(),
                OsStr::new("/"),
            ])?;
            self.run(["config"].iter().chain(config).chain([&container.as_str()]))?;
            self.run([
                "commit",
                "--quiet",
                // Reproducible: equal inputs give an equal image id.
                "--timestamp=0",
                "--identity-label=false",
                "--rm",
                &container,
                image,
            ])
        })();
        if built.is_err() {
            let _ = self.run(["rm", &container]);
        }
        std::fs::remove_file(&tar)?;
        built.map(drop)
    }
}
