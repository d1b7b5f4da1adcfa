//! Cloud-side names and the fingerprint that ties a cloud app to its object (SPEC §3.1, §3.4).
//! Pure functions.

use sha2::{Digest, Sha256};

/// What ties a cloud app (or API) to the object that made it: ` [appauth:<cluster>/<object>]`
/// at the end of its description, where `<cluster>` is 8 hex chars of sha256 of the cluster name
/// and `<object>` the first 8 chars of the object's uid. Fixed length (`FINGERPRINT_LEN`), so
/// the CRDs can bound descriptions. The format before it, ` [appauth:<object>]`, carried no
/// cluster; it is still recognised, as this cluster's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    cluster: String,
    object: String,
}

/// Who a remark's fingerprint names, seen from one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// This object; `current` false for the older format without the cluster.
    Me { current: bool },
    /// Another object of this cluster (or of the older format): the first 8 chars of its uid.
    OtherObject(String),
    /// An object of another cluster sharing the account.
    OtherCluster,
    /// No fingerprint: made by hand, by other tools, or before the operator.
    Nobody,
}

const PREFIX: &str = " [appauth:";

/// 8 hex chars of sha256 of the cluster name.
fn cluster_tag(cluster: &str) -> String {
    hex::encode(Sha256::digest(cluster.as_bytes()))[..8].to_string()
}

fn short(uid: &str) -> String {
    uid.chars().take(8).collect()
}

/// The cluster tag (None for the older format) and object of a remark's fingerprint.
fn parse(remark: &str) -> Option<(Option<&str>, &str)> {
    let i = remark.rfind(PREFIX)?;
    let inner = remark[i + PREFIX.len()..].strip_suffix(']')?;
    let plain = |s: &str| s.len() == 8 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    match inner.split_once('/') {
        Some((cluster, object))
            if cluster.len() == 8
                && cluster.chars().all(|c| c.is_ascii_hexdigit())
                && plain(object) =>
        {
            Some((Some(cluster), object))
        }
        None if plain(inner) => Some((None, inner)),
        _ => None,
    }
}

impl Fingerprint {
    pub fn new(cluster: &str, uid: &str) -> Self {
        Fingerprint {
            cluster: cluster_tag(cluster),
            object: short(uid),
        }
    }

    /// The fingerprint as appended to descriptions.
    pub fn tag(&self) -> String {
        format!("{PREFIX}{}/{}]", self.cluster, self.object)
    }

    /// The description the cloud gets: the user's text plus the fingerprint.
    pub fn remark(&self, description: Option<&str>) -> String {
        format!("{}{}", description.unwrap_or_default(), self.tag())
    }

    /// Who the remark's fingerprint names.
    pub fn holder(&self, remark: Option<&str>) -> Holder {
        match remark.and_then(parse) {
            None => Holder::Nobody,
            Some((Some(cluster), _)) if cluster != self.cluster => Holder::OtherCluster,
            Some((cluster, object)) if object == self.object => Holder::Me {
                current: cluster.is_some(),
            },
            Some((_, object)) => Holder::OtherObject(object.to_string()),
        }
    }

    /// Whether the remark names this object (in either format).
    pub fn is_mine(&self, remark: Option<&str>) -> bool {
        matches!(self.holder(remark), Holder::Me { .. })
    }
}

/// Whether a uid belongs to the object a fingerprint names (its first 8 chars).
pub fn names_object(object: &str, uid: &str) -> bool {
    uid.starts_with(object)
}

/// Whether a cloud remark carries any operator fingerprint.
pub fn has_any_fingerprint(remark: Option<&str>) -> bool {
    remark.and_then(parse).is_some()
}

/// The user's part of a remark: drift comparison ignores the fingerprint.
pub fn strip_fingerprint(remark: &str) -> &str {
    match remark.rfind(PREFIX) {
        Some(i) if parse(remark).is_some() => &remark[..i],
        _ => remark,
    }
}

/// Default cloud name: a cleaned prefix of `<namespace>_<name>` (lowercase letters, digits, `_`,
/// starting with a letter, at most 50 chars), `_`, and 8 hex chars of
/// sha256(`<cluster>/<namespace>/<name>`). Valid for every service's name rules.
pub fn default_app_name(cluster: &str, namespace: &str, name: &str) -> String {
    let mut cleaned: String = format!("{namespace}_{name}")
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Collapse runs of '_' so the prefix carries as much of the name as possible.
    while cleaned.contains("__") {
        cleaned = cleaned.replace("__", "_");
    }
    let trimmed = cleaned.trim_start_matches(|c: char| !c.is_ascii_lowercase());
    let mut prefix: String = trimmed.chars().take(50).collect();
    while prefix.ends_with('_') {
        prefix.pop();
    }
    if prefix.is_empty() {
        prefix.push_str("app");
    }
    let digest = hex::encode(Sha256::digest(
        format!("{cluster}/{namespace}/{name}").as_bytes(),
    ));
    format!("{prefix}_{}", &digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_name_the_cluster_and_the_object() {
        let uid = "1a2b3c4d-5e6f-7a8b-9c0d-ef0123456789";
        let me = Fingerprint::new("prod", uid);
        assert_eq!(me.tag().len(), crate::api::FINGERPRINT_LEN);
        let remark = me.remark(Some("Orders"));
        assert!(remark.starts_with("Orders [appauth:"), "{remark}");
        assert!(remark.ends_with("/1a2b3c4d]"), "{remark}");
        let other_object = Fingerprint::new("prod", "ffffffff-0000").remark(Some("x"));
        let other_cluster = Fingerprint::new("staging", uid).remark(Some("x"));
        let cases: [(&str, Option<&str>, Holder); 8] = [
            ("this object", Some(&remark), Holder::Me { current: true }),
            (
                "older format, this object",
                Some("Orders [appauth:1a2b3c4d]"),
                Holder::Me { current: false },
            ),
            (
                "another object",
                Some(&other_object),
                Holder::OtherObject("ffffffff".into()),
            ),
            (
                "older format, another object",
                Some("x [appauth:ffffffff]"),
                Holder::OtherObject("ffffffff".into()),
            ),
            (
                "another cluster, same uid prefix",
                Some(&other_cluster),
                Holder::OtherCluster,
            ),
            ("no fingerprint", Some("Orders"), Holder::Nobody),
            (
                "not a fingerprint",
                Some("plain [appauth:x]"),
                Holder::Nobody,
            ),
            ("no remark", None, Holder::Nobody),
        ];
        for (name, remark, want) in cases {
            assert_eq!(me.holder(remark), want, "{name}");
        }
        assert!(!me.is_mine(Some("[appauth:1a2b3c4d]")), "no leading space");
        assert!(has_any_fingerprint(Some(&remark)));
        assert!(has_any_fingerprint(Some("x [appauth:ffffffff]")));
        assert!(!has_any_fingerprint(Some("Orders")));
        assert_eq!(strip_fingerprint(&remark), "Orders");
        assert_eq!(strip_fingerprint("Orders [appauth:1a2b3c4d]"), "Orders");
        assert_eq!(strip_fingerprint("plain [appauth:x]"), "plain [appauth:x]");
        assert_eq!(strip_fingerprint(&me.remark(None)), "");
        assert!(names_object("ffffffff", "ffffffff-0000"));
    }

    #[test]
    fn default_names_follow_every_service_rule() {
        let n = default_app_name("default", "shop", "orders-client");
        assert!(n.starts_with("shop_orders_client_"), "{n}");
        assert_eq!(n.len(), "shop_orders_client_".len() + 8);
        // Stable, and distinct per cluster.
        assert_eq!(n, default_app_name("default", "shop", "orders-client"));
        assert_ne!(n, default_app_name("other", "shop", "orders-client"));
        let long = default_app_name("c", &"n".repeat(63), &"x".repeat(253));
        assert!(long.len() <= 59, "{long}");
        let digits = default_app_name("c", "0ns", "1.2");
        assert!(digits.starts_with("ns_1_2_"), "{digits}");
        let odd = default_app_name("c", "9", "8");
        assert!(odd.starts_with("app_"), "{odd}");
        for name in [n, long, digits, odd] {
            let first = name.chars().next().expect("non-empty");
            assert!(first.is_ascii_lowercase());
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            );
            assert!((3..=64).contains(&name.len()));
        }
    }
}
