//! Ids (the apiserver's uids, cloud app ids) kept compactly in the indexes that hold one entry
//! per object: nearly all are UUIDs or 32 hex digits, which fit 16 bytes without a heap copy.

use std::fmt;

/// The value of a lowercase UUID (8-4-4-4-12) or of 32 lowercase hex digits, and whether it was
/// a UUID; `None` for anything else (another case, dashes elsewhere, another length).
fn hex128(id: &str) -> Option<(u128, bool)> {
    let uuid = id.len() == 36
        && id
            .char_indices()
            .all(|(i, c)| (c == '-') == matches!(i, 8 | 13 | 18 | 23));
    if !uuid && id.len() != 32 {
        return None;
    }
    let mut value: u128 = 0;
    for c in id.chars().filter(|c| !(uuid && *c == '-')) {
        match c {
            '0'..='9' | 'a'..='f' => value = (value << 4) | u128::from(c.to_digit(16)?),
            _ => return None,
        }
    }
    Some((value, uuid))
}

/// An id as a map key: 16 bytes without a heap copy per entry (these maps hold every object).
/// Only lowercase hex, as 32 digits or a UUID's 8-4-4-4-12, is read as a number (a UUID and its
/// 32 digits without dashes are one key); anything else is hashed.
pub type IdKey = u128;

pub fn id_key(id: &str) -> IdKey {
    if let Some((value, _)) = hex128(id) {
        return value;
    }
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let h = |salt: u8| BuildHasherDefault::<DefaultHasher>::default().hash_one((salt, id)) as u128;
    (h(0) << 64) | h(1)
}

/// An id kept exactly: a UUID or 32 hex digits (lowercase) as its 16 bytes, anything else as
/// its text. Displays as it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExactId {
    // Two u64s rather than a u128: 8-byte alignment keeps the whole id at 24 bytes.
    Uuid([u64; 2]),
    Hex([u64; 2]),
    Text(Box<str>),
}

fn halves(v: u128) -> [u64; 2] {
    [(v >> 64) as u64, v as u64]
}

impl ExactId {
    pub fn new(id: &str) -> Self {
        match hex128(id) {
            Some((v, true)) => Self::Uuid(halves(v)),
            Some((v, false)) => Self::Hex(halves(v)),
            None => Self::Text(id.into()),
        }
    }

    /// Whether this is `id`, exactly (without making an `ExactId` of it).
    pub fn is(&self, id: &str) -> bool {
        match (self, hex128(id)) {
            (Self::Uuid(h), Some((v, true))) | (Self::Hex(h), Some((v, false))) => *h == halves(v),
            (Self::Text(t), None) => **t == *id,
            _ => false,
        }
    }

    /// The same key [`id_key`] makes of its text.
    pub fn key(&self) -> IdKey {
        match self {
            Self::Uuid([hi, lo]) | Self::Hex([hi, lo]) => (u128::from(*hi) << 64) | u128::from(*lo),
            Self::Text(t) => id_key(t),
        }
    }
}

impl fmt::Display for ExactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Uuid([hi, lo]) => write!(
                f,
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                hi >> 32,
                (hi >> 16) & 0xffff,
                hi & 0xffff,
                lo >> 48,
                lo & 0xffff_ffff_ffff
            ),
            Self::Hex([hi, lo]) => write!(f, "{hi:016x}{lo:016x}"),
            Self::Text(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_keys_are_exact_and_other_uids_still_distinct() {
        let a = "0b9f2c1e-4d3a-4f6b-9e2d-1a2b3c4d5e6f";
        assert_eq!(id_key(a), 0x0b9f2c1e4d3a4f6b9e2d1a2b3c4d5e6f);
        assert_ne!(id_key(a), id_key("0b9f2c1e-4d3a-4f6b-9e2d-1a2b3c4d5e60"));
        assert_ne!(id_key("u"), id_key("v"));
        assert_ne!(id_key("u"), 0);
        // Too long, or not hex: hashed, not truncated.
        assert_ne!(id_key(&format!("{a}0")), id_key(a));
        // Exact: another case or dashes elsewhere are other ids.
        assert_ne!(id_key(&a.to_uppercase()), id_key(a));
        assert_ne!(id_key("0b9f2c1e4-d3a-4f6b-9e2d-1a2b3c4d5e6f"), id_key(a));
        assert_eq!(id_key("0b9f2c1e4d3a4f6b9e2d1a2b3c4d5e6f"), id_key(a));
    }

    #[test]
    fn exact_ids_display_as_given_in_24_bytes() {
        let cases = [
            ("a uid", "0b9f2c1e-4d3a-4f6b-9e2d-1a2b3c4d5e6f", true),
            (
                "leading zeros",
                "00000000-0000-0000-0000-000000000001",
                true,
            ),
            ("an app id", "0833a5737480d53b2f250010d01a7b88", true),
            ("a uid's digits", "0b9f2c1e4d3a4f6b9e2d1a2b3c4d5e6f", true),
            ("upper case", "0B9F2C1E-4D3A-4F6B-9E2D-1A2B3C4D5E6F", false),
            (
                "dashes elsewhere",
                "0b9f2c1e4-d3a-4f6b-9e2d-1a2b3c4d5e6f",
                false,
            ),
            ("31 digits", "0833a5737480d53b2f250010d01a7b8", false),
            ("not hex", "0833a5737480d53b2f250010d01a7b8g", false),
            ("a name", "uid-1", false),
            ("empty", "", false),
        ];
        for (name, id, compact) in cases {
            let exact = ExactId::new(id);
            assert_eq!(exact.to_string(), id, "{name}");
            assert_eq!(!matches!(exact, ExactId::Text(_)), compact, "{name}");
            assert_eq!(exact.key(), id_key(id), "{name}: the same key");
            assert!(exact.is(id), "{name}");
            for (other_name, other, _) in cases {
                assert_eq!(exact.is(other), id == other, "{name} is not {other_name}");
            }
        }
        assert_eq!(std::mem::size_of::<ExactId>(), 24);
        assert_eq!(std::mem::size_of::<Option<ExactId>>(), 24);
    }
}
