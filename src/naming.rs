//! Cloud-side names and the fingerprint that ties a cloud app to its object (SPEC §3.1, §3.4).
//! Pure functions.

use sha2::{Digest, Sha256};

/// ` [appauth:<first 8 chars of the object uid>]`, appended to descriptions and remarks.
pub fn fingerprint(uid: &str) -> String {
    let short: String = uid.chars().take(8).collect();
    format!(" [appauth:{short}]")
}

/// The description the cloud gets: the user's text plus the fingerprint.
pub fn remark_with_fingerprint(description: Option<&str>, uid: &str) -> String {
    format!("{}{}", description.unwrap_or_default(), fingerprint(uid))
}

/// Whether a cloud remark carries this object's fingerprint.
pub fn has_fingerprint(remark: Option<&str>, uid: &str) -> bool {
    remark.is_some_and(|r| r.ends_with(&fingerprint(uid)))
}

/// Whether a cloud remark carries any operator fingerprint.
pub fn has_any_fingerprint(remark: Option<&str>) -> bool {
    remark.is_some_and(|r| {
        r.rfind(" [appauth:").is_some_and(|i| {
            let tail = &r[i + " [appauth:".len()..];
            tail.len() == 9 && tail.ends_with(']')
        })
    })
}

/// The user's part of a remark: drift comparison ignores the fingerprint.
pub fn strip_fingerprint(remark: &str) -> &str {
    match remark.rfind(" [appauth:") {
        Some(i) if has_any_fingerprint(Some(remark)) => &remark[..i],
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
    fn fingerprints() {
        let uid = "1a2b3c4d-5e6f-7a8b-9c0d-ef0123456789";
        assert_eq!(fingerprint(uid), " [appauth:1a2b3c4d]");
        assert_eq!(fingerprint(uid).len(), crate::api::FINGERPRINT_LEN);
        let remark = remark_with_fingerprint(Some("Orders"), uid);
        assert_eq!(remark, "Orders [appauth:1a2b3c4d]");
        assert!(has_fingerprint(Some(&remark), uid));
        assert!(!has_fingerprint(Some(&remark), "ffffffff-0000"));
        assert!(!has_fingerprint(None, uid));
        assert!(has_any_fingerprint(Some(&remark)));
        assert!(!has_any_fingerprint(Some("Orders")));
        assert_eq!(strip_fingerprint(&remark), "Orders");
        assert_eq!(strip_fingerprint("plain [appauth:x]"), "plain [appauth:x]");
        assert_eq!(strip_fingerprint(&remark_with_fingerprint(None, uid)), "");
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
