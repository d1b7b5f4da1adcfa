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
    let exposed: Vec<&str> = secrets
        .iter()
        .map(|s| s.expose_secret())
        .filter(|s| s.len() >= 4)
        .collect();
    if exposed.is_empty() {
        return text.to_string();
    }
    let once = replace_forms(text, &exposed);
    // An echo may escape differently from serde (`\/`, `\u003d`, `%2f`): read the escapes back
    // and look again. The decoded text is kept only when that found something.
    let decoded = percent_encoding::percent_decode_str(&json_unescape(&once))
        .decode_utf8_lossy()
        .into_owned();
    if decoded == once {
        return once;
    }
    let twice = replace_forms(&decoded, &exposed);
    if twice == decoded { once } else { twice }
}

fn replace_forms(text: &str, secrets: &[&str]) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let mut out = text.to_string();
    for raw in secrets {
        // Inside the quotes only: trimming every `"` would also cut an escaped one at the end.
        let json = serde_json::to_string(raw).unwrap_or_default();
        let json = json
            .get(1..json.len().saturating_sub(1))
            .unwrap_or_default();
        let forms = [
            raw.to_string(),
            percent_encoding::utf8_percent_encode(raw, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            json.to_string(),
            STANDARD.encode(raw),
            URL_SAFE_NO_PAD.encode(raw),
        ];
        for form in forms {
            if !form.is_empty() {
                out = out.replace(&form, "[redacted]");
            }
        }
    }
    out
}

/// Reads JSON string escapes back (`\"`, `\\`, `\/`, `\n`..., `\uXXXX` with surrogate pairs);
/// anything that is not a valid escape stays as it is.
fn json_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (decoded, used) = escape_at(tail).unwrap_or(('\\', 1));
        out.push(decoded);
        rest = &tail[used..];
    }
    out.push_str(rest);
    out
}

/// The character an escape at the start of `s` (which starts with a backslash) stands for, and
/// the bytes it takes.
fn escape_at(s: &str) -> Option<(char, usize)> {
    let simple = match s.as_bytes().get(1)? {
        b'"' => Some('"'),
        b'\\' => Some('\\'),
        b'/' => Some('/'),
        b'b' => Some('\u{8}'),
        b'f' => Some('\u{c}'),
        b'n' => Some('\n'),
        b'r' => Some('\r'),
        b't' => Some('\t'),
        b'u' => None,
        _ => return None,
    };
    if let Some(c) = simple {
        return Some((c, 2));
    }
    let unit = |at: usize| {
        s.get(at..at + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let high = unit(2)?;
    if (0xD800..0xDC00).contains(&high) {
        let low = s
            .get(6..8)
            .filter(|p| *p == "\\u")
            .and_then(|_| unit(8))
            .filter(|l| (0xDC00..0xE000).contains(l))?;
        let c = char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?;
        return Some((c, 12));
    }
    Some((char::from_u32(high)?, 6))
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

    #[test]
    fn scrub_removes_an_escaped_quote_at_the_end() {
        let s = SecretString::from("t4il\"");
        let out = scrub("echo {\"v\":\"t4il\\\"\"}", &[s]);
        assert_eq!(out, "echo {\"v\":\"[redacted]\"}");
    }

    #[test]
    fn scrub_reads_other_escapes_back() {
        let s = SecretString::from("k3y/p4ss=w0rd+\u{e9}\u{1f600}");
        for echo in [
            "k3y\\/p4ss\\u003dw0rd+\\u00e9\\ud83d\\ude00",
            "k3y%2fp4ss%3dw0rd%2b%c3%a9%f0%9f%98%80",
            "k3y\\/p4ss=w0rd%2B\u{e9}\u{1f600}",
            "azN5L3A0c3M9dzByZCvDqfCfmIA=",
            "azN5L3A0c3M9dzByZCvDqfCfmIA",
        ] {
            let out = scrub(
                &format!("bad value: {echo} (request 7)"),
                std::slice::from_ref(&s),
            );
            assert!(out.contains("[redacted]"), "{echo} -> {out}");
            assert!(out.ends_with("(request 7)"), "{out}");
            assert!(!out.contains("p4ss"), "{echo} -> {out}");
        }
    }

    #[test]
    fn scrub_leaves_text_without_secrets_as_it_was() {
        let s = SecretString::from("n0t-th3r3");
        let text = "path \\/v2\\/apps, 100% of \\u0041 \\ud800 and \\ broken %zz";
        assert_eq!(scrub(text, &[s]), text);
    }

    #[test]
    fn json_unescape_reads_every_escape() {
        assert_eq!(
            json_unescape(r#"a\"b\\c\/d\n\u00e9\ud83d\ude00\x\u12"#),
            "a\"b\\c/d\n\u{e9}\u{1f600}\\x\\u12"
        );
    }
}
