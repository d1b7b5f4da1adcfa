//! Instance patterns, and every policy in one object for the admission policy: the operator
//! matches patterns by hand, admission with the anchored regular expressions made here, and a
//! test holds the two to the same answers.

use crate::api::{AppAuthGrantSetSpec, AppAuthPolicy, CompiledGrant};

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The pattern as an anchored regular expression (patterns hold only letters, digits, `_`, `-`,
/// `.` and `*`, so `.` is the only character to escape).
pub fn glob_regex(pattern: &str) -> String {
    format!("^{}$", pattern.replace('.', "\\.").replace('*', ".*"))
}

/// Every policy, in name order, as the admission policy reads them.
pub fn compile(policies: &[&AppAuthPolicy]) -> AppAuthGrantSetSpec {
    let mut grants: Vec<CompiledGrant> = policies
        .iter()
        .map(|p| CompiledGrant {
            policy: p.metadata.name.clone().unwrap_or_default(),
            rules: p.spec.clone(),
            instance_regexes: p.spec.instances.iter().map(|i| glob_regex(i)).collect(),
        })
        .collect();
    grants.sort_by(|a, b| a.policy.cmp(&b.policy));
    AppAuthGrantSetSpec { grants }
}
