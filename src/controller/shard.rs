//! Objects split between deployments by `--label-selector`: the operator's own Secrets carry
//! their owner's values of the label keys the selector reads, so each deployment's watches of
//! those Secrets select its own share only (and hold only those in memory). Pure.

use std::collections::BTreeMap;

/// The label keys a selector reads, sorted (`a=b,c!=d,e in (f,g),h notin (i),j,!k,l>1`: a, c,
/// e, h, j, k, l).
pub fn selector_keys(selector: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                keys.extend(key_of(&selector[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    keys.extend(key_of(&selector[start..]));
    keys.sort();
    keys.dedup();
    keys
}

/// The key of one requirement: what comes before its operator.
fn key_of(requirement: &str) -> Option<String> {
    let r = requirement.trim();
    let r = r.strip_prefix('!').unwrap_or(r).trim_start();
    let end = r
        .find(|c: char| matches!(c, '=' | '!' | '<' | '>') || c.is_whitespace())
        .unwrap_or(r.len());
    (end > 0).then(|| r[..end].to_string())
}

/// Sets the selector's keys on an owned Secret's labels to the owner's values (removing those
/// the owner does not have, whatever a template says), so the Secret is selected exactly when
/// its owner is.
pub fn label(
    labels: &mut BTreeMap<String, String>,
    owner: &BTreeMap<String, String>,
    keys: &[String],
) {
    for key in keys {
        match owner.get(key) {
            Some(value) => {
                labels.insert(key.clone(), value.clone());
            }
            None => {
                labels.remove(key);
            }
        }
    }
}

/// Whether an owned Secret's labels carry the owner's values of the selector's keys (one
/// written before the split, or by hand, does not: it is written again).
pub fn carries(
    labels: Option<&BTreeMap<String, String>>,
    owner: &BTreeMap<String, String>,
    keys: &[String],
) -> bool {
    keys.iter()
        .all(|key| labels.and_then(|l| l.get(key)) == owner.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_keys_of_every_kind_of_requirement() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("shard=a", &["shard"]),
            ("shard==a", &["shard"]),
            ("shard!=a", &["shard"]),
            ("shard in (a,b),team notin (x, y)", &["shard", "team"]),
            ("tier, !legacy", &["legacy", "tier"]),
            (
                " example.com/shard = a , shard=b",
                &["example.com/shard", "shard"],
            ),
            ("shard=a,shard!=b", &["shard"]),
            ("gen>1,gen<5, size > 2", &["gen", "size"]),
        ];
        for (selector, want) in cases {
            assert_eq!(selector_keys(selector), *want, "{selector:?}");
        }
    }

    #[test]
    fn an_owned_secret_carries_exactly_its_owners_values() {
        let keys = selector_keys("shard=a,!legacy");
        let owner = map(&[("shard", "a"), ("team", "t")]);
        // A template that sets a selector key is overridden; one the owner lacks is removed.
        let mut labels = map(&[("shard", "b"), ("legacy", "1"), ("app", "x")]);
        assert!(!carries(Some(&labels), &owner, &keys));
        label(&mut labels, &owner, &keys);
        assert_eq!(labels, map(&[("app", "x"), ("shard", "a")]));
        assert!(carries(Some(&labels), &owner, &keys));
        // Written before the split: no labels at all.
        assert!(!carries(None, &owner, &keys));
        // Without a selector every Secret carries what it needs.
        assert!(carries(None, &owner, &[]));
    }
}
