//! Secret material (app secrets, SKs, passwords, tokens) lives in `SecretString`, whose `Debug`
//! prints a placeholder and which has no `Display`, so it cannot reach logs or error text.

pub use secrecy::{ExposeSecret, SecretString};

/// A secret read back from the cloud is masked when it contains `*` (APIG, ModelArts without the
/// plaintext flag); a masked value must be read again, never delivered.
pub fn is_masked(secret: &SecretString) -> bool {
    secret.expose_secret().contains('*')
}

/// Replaces every occurrence of each secret in `text` (raw and in common encodings) so that an
/// error body that echoes a request never carries the secret onward.
pub fn scrub(text: &str, secrets: &[SecretString]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        let raw = secret.expose_secret();
        if raw.len() < 4 {
            continue;
        }
        let encoded =
            percent_encoding::utf8_percent_encode(raw, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let json = serde_json::to_string(raw).unwrap_or_default();
        for form in [raw.to_string(), encoded, json.trim_matches('"').to_string()] {
            if !form.is_empty() {
                out = out.replace(&form, "[redacted]");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_value() {
        let s = SecretString::from("s3cr3t-value");
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn masked_values_are_detected() {
        assert!(is_masked(&SecretString::from("416************ab8")));
        assert!(!is_masked(&SecretString::from("416abcab8")));
    }

    #[test]
    fn scrub_removes_raw_and_encoded_forms() {
        let s = SecretString::from("a/b+c\"d");
        let text = "echo a/b+c\"d and a%2Fb%2Bc%22d and a/b+c\\\"d";
        let out = scrub(text, &[s]);
        assert!(!out.contains("a/b+c"), "{out}");
        assert!(!out.contains("a%2Fb"), "{out}");
    }
}
