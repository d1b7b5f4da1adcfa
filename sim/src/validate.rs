//! Field rules per service (API reference §4 and §5; where the reference gives no rule the
//! simulator's choice is marked SIM-CHOSEN).

fn len_between(s: &str, min: usize, max: usize) -> bool {
    let n = s.chars().count();
    n >= min && n <= max
}

/// APIG app name: 3-64 characters, starts with a letter, then letters, digits and `_`.
/// Letters include non-ASCII letters (the SDK comment allows Chinese characters).
pub fn apig_name(s: &str) -> bool {
    let mut chars = s.chars();
    len_between(s, 3, 64)
        && chars.next().is_some_and(char::is_alphabetic)
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// APIG AppKey: 8-200, starts with a letter or digit, then letters, digits, `-`, `_`.
pub fn apig_key(s: &str) -> bool {
    let mut chars = s.chars();
    len_between(s, 8, 200)
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// APIG AppSecret: 8-128, starts with a letter or digit, then letters, digits and `_-!@#$%`.
pub fn apig_secret(s: &str) -> bool {
    let mut chars = s.chars();
    len_between(s, 8, 128)
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_-!@#$%".contains(c))
}

/// AppCode value: 64-180, starts with a letter, digit, `+` or `/`; allowed
/// `A-Za-z0-9+_!@#$%-/=`.
pub fn app_code(s: &str) -> bool {
    let mut chars = s.chars();
    len_between(s, 64, 180)
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
        && chars.all(|c| c.is_ascii_alphanumeric() || "+_!@#$%-/=".contains(c))
}

/// ROMA app name: letters (non-ASCII too), digits, `-`, `_`, `.`, space, parentheses
/// (ASCII or full-width). Length 1-64 is SIM-CHOSEN (UNCONFIRMED).
pub fn roma_name(s: &str) -> bool {
    len_between(s, 1, 64)
        && s.chars()
            .all(|c| c.is_alphanumeric() || "-_. ()（）".contains(c))
}

/// ROMA key: starts with a letter or digit, then letters, digits, `-`, `_`, `@`, `.`.
/// Length 1-128 is SIM-CHOSEN (UNCONFIRMED).
pub fn roma_key(s: &str) -> bool {
    let mut chars = s.chars();
    len_between(s, 1, 128)
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "-_@.".contains(c))
}

/// ROMA secret: letters, digits and `!@#$%+=.-/`. Length 8-128 is SIM-CHOSEN (UNCONFIRMED).
pub fn roma_secret(s: &str) -> bool {
    len_between(s, 8, 128)
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!@#$%+=.-/".contains(c))
}

/// ModelArts and DataArts app names: no documented rule. SIM-CHOSEN: 1-64 characters, no
/// control characters and no `/`.
pub fn free_name(s: &str) -> bool {
    len_between(s, 1, 64) && !s.chars().any(|c| c.is_control() || c == '/')
}

/// A remark/description of at most `max` characters.
pub fn remark(s: &str, max: usize) -> bool {
    s.chars().count() <= max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apig_rules() {
        assert!(apig_name("app_demo"));
        assert!(apig_name("应用_1"));
        assert!(apig_name(&format!("a{}", "b".repeat(63))));
        assert!(!apig_name(&format!("a{}", "b".repeat(64))));
        assert!(!apig_name("ab"));
        assert!(!apig_name("1abc"));
        assert!(!apig_name("app-demo"));
        assert!(apig_key("ee8f878c252747028f07eb116c2cd91b"));
        assert!(apig_key("Key-1_abc"));
        assert!(!apig_key("-key12345"));
        assert!(!apig_key("short"));
        assert!(apig_secret("s3cret!@#$%_-"));
        assert!(!apig_secret("s3cret+1234"));
        assert!(!apig_secret(&"a".repeat(129)));
        assert!(app_code(&format!("+{}", "a".repeat(63))));
        assert!(!app_code(&"a".repeat(63)));
        assert!(!app_code(&format!("={}", "a".repeat(63))));
    }

    #[test]
    fn roma_rules() {
        assert!(roma_name("My App (v1.2)_x-y"));
        assert!(roma_name("应用（测试）"));
        assert!(!roma_name("bad/name"));
        assert!(!roma_name(""));
        assert!(roma_key("JNs1VK3vLdTT9Djd"));
        assert!(roma_key("a@b.c-d_e"));
        assert!(!roma_key("@abc"));
        assert!(roma_secret("TEI95R8RZ2pIf8UM"));
        assert!(roma_secret("a+b=c.d-e/f!@#$%"));
        assert!(!roma_secret("abc def 123"));
    }
}
