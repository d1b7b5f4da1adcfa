//! Is a binary static? Read from its ELF program headers (no readelf needed): a static binary
//! has no program interpreter (PT_INTERP) and no shared-library dependency (DT_NEEDED in its
//! dynamic section; a static-pie binary has a dynamic section, for its relocations, but no
//! DT_NEEDED). Only 64-bit little-endian ELF (x86_64, aarch64) is read.

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;

/// What makes `elf` depend on something at run time; empty when it is static.
pub(crate) fn dynamic_dependencies(elf: &[u8]) -> Result<Vec<String>, String> {
    if elf.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err("not an ELF file".to_string());
    }
    if elf[4] != 2 || elf[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".to_string());
    }
    let phoff = u64_at(elf, 0x20)?;
    let phentsize = u64::from(u16_at(elf, 0x36)?);
    let phnum = u64::from(u16_at(elf, 0x38)?);
    let mut found = Vec::new();
    for i in 0..phnum {
        let ph = to_usize(phoff + i * phentsize)?;
        let offset = u64_at(elf, ph + 8)?;
        let size = u64_at(elf, ph + 32)?;
        match u32_at(elf, ph)? {
            PT_INTERP => {
                let bytes = slice(elf, offset, size)?;
                let path = String::from_utf8_lossy(bytes);
                found.push(format!(
                    "program interpreter {}",
                    path.trim_end_matches('\0')
                ));
            }
            PT_DYNAMIC => {
                let dynamic = slice(elf, offset, size)?;
                let needed = dynamic
                    .chunks_exact(16)
                    .map(|entry| u64::from_le_bytes(entry[..8].try_into().expect("8 bytes")))
                    .take_while(|&tag| tag != DT_NULL)
                    .filter(|&tag| tag == DT_NEEDED)
                    .count();
                if needed > 0 {
                    found.push(format!("{needed} shared-library dependencies (NEEDED)"));
                }
            }
            _ => {}
        }
    }
    Ok(found)
}

fn to_usize(n: u64) -> Result<usize, String> {
    usize::try_from(n).map_err(|_| "offset out of range".to_string())
}

fn slice(elf: &[u8], offset: u64, size: u64) -> Result<&[u8], String> {
    let start = to_usize(offset)?;
    let end = start
        .checked_add(to_usize(size)?)
        .ok_or("segment out of range")?;
    elf.get(start..end)
        .ok_or_else(|| format!("segment {start}..{end} beyond the end of the file"))
}

fn bytes<const N: usize>(elf: &[u8], at: usize) -> Result<[u8; N], String> {
    elf.get(at..at + N)
        .map(|b| b.try_into().expect("N bytes"))
        .ok_or_else(|| format!("truncated ELF file (reading offset {at})"))
}

fn u16_at(elf: &[u8], at: usize) -> Result<u16, String> {
    bytes(elf, at).map(u16::from_le_bytes)
}

fn u32_at(elf: &[u8], at: usize) -> Result<u32, String> {
    bytes(elf, at).map(u32::from_le_bytes)
}

fn u64_at(elf: &[u8], at: usize) -> Result<u64, String> {
    bytes(elf, at).map(u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 file: the header, then one program header per segment, then each
    /// segment's bytes.
    fn elf(segments: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let phoff = 64u64;
        let mut out = vec![0u8; 64];
        out[..6].copy_from_slice(b"\x7fELF\x02\x01");
        out[0x20..0x28].copy_from_slice(&phoff.to_le_bytes());
        out[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        out[0x38..0x3a].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        let mut data_at = phoff + 56 * segments.len() as u64;
        let mut data: Vec<u8> = Vec::new();
        for (kind, bytes) in segments {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&kind.to_le_bytes());
            ph[8..16].copy_from_slice(&data_at.to_le_bytes());
            ph[32..40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend(ph);
            data.extend(bytes);
            data_at += bytes.len() as u64;
        }
        out.extend(data);
        out
    }

    fn dynamic(tags: &[u64]) -> Vec<u8> {
        tags.iter()
            .flat_map(|tag| tag.to_le_bytes().into_iter().chain(7u64.to_le_bytes()))
            .collect()
    }

    const PT_LOAD: u32 = 1;
    const DT_RELA: u64 = 7;

    #[test]
    fn static_binaries_pass_and_dynamic_ones_are_named() {
        let interp = (PT_INTERP, b"/lib64/ld-linux-x86-64.so.2\0".to_vec());
        // (name, file, the dependencies or an error containing)
        type Case = (
            &'static str,
            Vec<u8>,
            Result<Vec<&'static str>, &'static str>,
        );
        let cases: &[Case] = &[
            ("static", elf(&[(PT_LOAD, vec![0; 8])]), Ok(vec![])),
            (
                "static-pie: relocations, no NEEDED",
                elf(&[
                    (PT_LOAD, vec![]),
                    (PT_DYNAMIC, dynamic(&[DT_RELA, DT_NULL])),
                ]),
                Ok(vec![]),
            ),
            (
                "NEEDED after DT_NULL is padding",
                elf(&[(PT_DYNAMIC, dynamic(&[DT_NULL, DT_NEEDED]))]),
                Ok(vec![]),
            ),
            (
                "dynamic",
                elf(&[
                    interp.clone(),
                    (
                        PT_DYNAMIC,
                        dynamic(&[DT_NEEDED, DT_RELA, DT_NEEDED, DT_NULL]),
                    ),
                ]),
                Ok(vec![
                    "program interpreter /lib64/ld-linux-x86-64.so.2",
                    "2 shared-library dependencies (NEEDED)",
                ]),
            ),
            ("not ELF", b"#!/bin/sh\n".to_vec(), Err("not an ELF file")),
            (
                "32-bit",
                b"\x7fELF\x01\x01\0\0".to_vec(),
                Err("not a 64-bit little-endian ELF file"),
            ),
            (
                "truncated",
                elf(std::slice::from_ref(&interp))[..80].to_vec(),
                Err("truncated ELF file"),
            ),
            (
                "segment past the end",
                elf(&[interp])[..64 + 56 + 4].to_vec(),
                Err("beyond the end of the file"),
            ),
        ];
        for (name, bytes, want) in cases {
            let got = dynamic_dependencies(bytes);
            match (want, &got) {
                (Ok(want), Ok(got)) => assert_eq!(got, want, "{name}"),
                (Err(want), Err(got)) => assert!(got.contains(want), "{name}: {got}"),
                _ => panic!("{name}: want {want:?}, got {got:?}"),
            }
        }
    }
}
