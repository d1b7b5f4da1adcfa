//! Tar archives written here (no tar crate, no tar command): the root file systems of the
//! images built FROM scratch, with the owners and modes they need whoever runs the build, and
//! the oci-archive files, from the OCI layout `buildah push oci:DIR:REF` leaves, named the way
//! `ctr images import` reads names. Every entry has mtime 0, so equal inputs give equal bytes.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// One file or directory of a tar archive.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// Relative, without a leading `/`; at most 100 bytes.
    pub path: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// None for a directory.
    pub data: Option<Vec<u8>>,
}

impl Entry {
    pub(crate) fn dir(path: &str, mode: u32, owner: u32) -> Self {
        Entry {
            path: path.to_string(),
            mode,
            uid: owner,
            gid: owner,
            data: None,
        }
    }

    pub(crate) fn file(path: &str, mode: u32, data: Vec<u8>) -> Self {
        Entry {
            path: path.to_string(),
            mode,
            uid: 0,
            gid: 0,
            data: Some(data),
        }
    }
}

const BLOCK: usize = 512;

/// A ustar archive of `entries`, in the order given.
pub(crate) fn tar(entries: &[Entry]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for entry in entries {
        let name = entry.path.as_bytes();
        if name.is_empty() || name.len() > 100 || entry.path.starts_with('/') {
            bail!(
                "tar entry {:?}: want a relative path of 1 to 100 bytes",
                entry.path
            );
        }
        let size = entry.data.as_ref().map_or(0, Vec::len);
        let mut header = [0u8; BLOCK];
        header[..name.len()].copy_from_slice(name);
        octal(&mut header[100..108], u64::from(entry.mode));
        octal(&mut header[108..116], u64::from(entry.uid));
        octal(&mut header[116..124], u64::from(entry.gid));
        octal(&mut header[124..136], size as u64);
        octal(&mut header[136..148], 0);
        header[156] = if entry.data.is_some() { b'0' } else { b'5' };
        header[257..265].copy_from_slice(b"ustar\x0000");
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&header);
        if let Some(data) = &entry.data {
            out.extend_from_slice(data);
            out.resize(out.len().next_multiple_of(BLOCK), 0);
        }
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    Ok(out)
}

/// Zero-padded octal digits and a NUL, filling `field`.
fn octal(field: &mut [u8], value: u64) {
    let digits = format!("{value:0width$o}", width = field.len() - 1);
    field[..digits.len()].copy_from_slice(digits.as_bytes());
    field[digits.len()] = 0;
}

/// containerd names an imported image by this annotation of its index entry.
const CONTAINERD_NAME: &str = "io.containerd.image.name";
const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Gives every manifest of an OCI index the containerd name annotation, copied from its OCI
/// ref name (`ctr images import` otherwise drops full references such as
/// `localhost/x:1`); returns the names.
pub(crate) fn name_for_containerd(index: &mut Value) -> Result<Vec<String>> {
    let manifests = index["manifests"]
        .as_array_mut()
        .context("index.json has no manifests")?;
    let mut names = Vec::new();
    for manifest in manifests {
        let annotations = manifest["annotations"]
            .as_object_mut()
            .context("an index entry without annotations")?;
        let name = annotations
            .get(OCI_REF_NAME)
            .and_then(Value::as_str)
            .context("an index entry without a ref name")?
            .to_string();
        annotations.insert(CONTAINERD_NAME.to_string(), Value::from(name.clone()));
        names.push(name);
    }
    Ok(names)
}

/// Writes the OCI layout `layout` as an oci-archive file (atomically: a reader never sees half
/// an archive) and returns the names it carries.
pub(crate) fn archive_layout(layout: &Path, archive: &Path) -> Result<Vec<String>> {
    let read = |path: &Path| std::fs::read(path).with_context(|| format!("{}", path.display()));
    let mut index: Value = serde_json::from_slice(&read(&layout.join("index.json"))?)?;
    let names = name_for_containerd(&mut index)?;
    let mut entries = vec![
        Entry::file("oci-layout", 0o644, read(&layout.join("oci-layout"))?),
        Entry::file("index.json", 0o644, serde_json::to_vec(&index)?),
        Entry::dir("blobs", 0o755, 0),
        Entry::dir("blobs/sha256", 0o755, 0),
    ];
    let mut blobs: Vec<_> = std::fs::read_dir(layout.join("blobs/sha256"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    blobs.sort();
    for blob in blobs {
        let name = blob.file_name().unwrap_or_default().to_string_lossy();
        entries.push(Entry::file(
            &format!("blobs/sha256/{name}"),
            0o644,
            read(&blob)?,
        ));
    }
    let partial = archive.with_extension("tar.partial");
    std::fs::write(&partial, tar(&entries)?)
        .with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, archive)?;
    Ok(names)
}

/// The uncompressed size of the image `manifest_digest` names in the OCI layout `layout`: the
/// sum of its layers' tar sizes.
pub(crate) fn image_size(layout: &Path, manifest_digest: &str) -> Result<u64> {
    let blob = |digest: &str| {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        layout.join("blobs/sha256").join(hex)
    };
    let manifest: Value = serde_json::from_slice(&std::fs::read(blob(manifest_digest))?)?;
    let mut total = 0;
    for layer in manifest["layers"]
        .as_array()
        .context("manifest without layers")?
    {
        let media_type = layer["mediaType"].as_str().unwrap_or_default();
        let size = layer["size"].as_u64().context("layer without size")?;
        let digest = layer["digest"].as_str().context("layer without digest")?;
        let data = std::fs::read(blob(digest))?;
        let tail = data.len().checked_sub(4).map(|at| &data[at..]);
        total += layer_size(media_type, size, tail)?;
    }
    Ok(total)
}

/// A layer's uncompressed size: its size for a plain tar; for gzip, the size its trailer
/// records (modulo 4 GiB, more than any layer here).
pub(crate) fn layer_size(media_type: &str, size: u64, tail: Option<&[u8]>) -> Result<u64> {
    // OCI's media types end in "tar" or "tar+gzip", Docker's in "tar" or "tar.gzip".
    match media_type.rsplit_once(['.', '+']).map(|(_, kind)| kind) {
        Some("tar") => Ok(size),
        Some("gzip") => {
            let tail: [u8; 4] = tail
                .and_then(|t| t.try_into().ok())
                .context("gzip layer shorter than its trailer")?;
            Ok(u64::from(u32::from_le_bytes(tail)))
        }
        _ => bail!("layer media type {media_type:?}: want tar or gzip"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_headers_carry_owner_mode_and_a_valid_checksum() {
        let entries = [
            Entry::dir("tmp", 0o1777, 0),
            Entry::dir("home/nonroot", 0o700, 65532),
            Entry::file(
                "etc/passwd",
                0o644,
                b"root:x:0:0::/root:/sbin/nologin\n".to_vec(),
            ),
        ];
        let out = tar(&entries).unwrap();
        // Three headers, one data block, two end blocks.
        assert_eq!(out.len(), 6 * BLOCK);
        let field = |block: usize, range: std::ops::Range<usize>| {
            let bytes = &out[block * BLOCK..][range];
            String::from_utf8_lossy(bytes)
                .trim_end_matches(['\0', ' '])
                .to_string()
        };
        // (header block, name, mode, uid, size, type)
        let want = [
            (0, "tmp", "0001777", "0000000", "00000000000", "5"),
            (1, "home/nonroot", "0000700", "0177774", "00000000000", "5"),
            (2, "etc/passwd", "0000644", "0000000", "00000000040", "0"),
        ];
        for (block, name, mode, uid, size, kind) in want {
            assert_eq!(field(block, 0..100), name);
            assert_eq!(field(block, 100..108), mode, "{name}");
            assert_eq!(field(block, 108..116), uid, "{name}");
            assert_eq!(field(block, 124..136), size, "{name}");
            assert_eq!(field(block, 156..157), kind, "{name}");
            assert_eq!(field(block, 257..263), "ustar", "{name}");
            let header = &out[block * BLOCK..(block + 1) * BLOCK];
            let sum: u32 = header
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        u32::from(b)
                    }
                })
                .sum();
            assert_eq!(field(block, 148..156), format!("{sum:06o}"), "{name}");
        }
        assert!(out[3 * BLOCK..].starts_with(b"root:x:0:0"));
        assert!(out[4 * BLOCK..].iter().all(|&b| b == 0));
    }

    #[test]
    fn tar_refuses_paths_it_cannot_store() {
        for path in ["", "/etc/passwd", &"x".repeat(101)] {
            assert!(tar(&[Entry::dir(path, 0o755, 0)]).is_err(), "{path:?}");
        }
    }

    #[test]
    fn every_ref_name_becomes_a_containerd_name() {
        let mut index = serde_json::json!({"manifests": [
            {"digest": "sha256:a", "annotations": {OCI_REF_NAME: "localhost/op:1"}},
            {"digest": "sha256:a", "annotations": {OCI_REF_NAME: "localhost/op:upgrade"}},
        ]});
        let names = name_for_containerd(&mut index).unwrap();
        assert_eq!(names, ["localhost/op:1", "localhost/op:upgrade"]);
        assert_eq!(
            index["manifests"][1]["annotations"][CONTAINERD_NAME],
            "localhost/op:upgrade"
        );
        let mut unnamed = serde_json::json!({"manifests": [{"annotations": {}}]});
        assert!(name_for_containerd(&mut unnamed).is_err());
    }

    #[test]
    fn layer_sizes_are_uncompressed() {
        let gzip_tail = 765_952u32.to_le_bytes();
        // (media type, blob size, its last 4 bytes, the uncompressed size)
        type Case<'a> = (&'a str, u64, Option<&'a [u8]>, Option<u64>);
        let cases: &[Case] = &[
            (
                "application/vnd.oci.image.layer.v1.tar",
                4096,
                None,
                Some(4096),
            ),
            (
                "application/vnd.oci.image.layer.v1.tar+gzip",
                347_917,
                Some(&gzip_tail),
                Some(765_952),
            ),
            (
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
                9,
                Some(&gzip_tail),
                Some(765_952),
            ),
            ("application/vnd.oci.image.layer.v1.tar+gzip", 3, None, None),
            (
                "application/vnd.oci.image.layer.v1.tar+zstd",
                10,
                Some(&gzip_tail),
                None,
            ),
        ];
        for (media_type, size, tail, want) in cases {
            let got = layer_size(media_type, *size, *tail).ok();
            assert_eq!(got, *want, "{media_type} {size}");
        }
    }
}
