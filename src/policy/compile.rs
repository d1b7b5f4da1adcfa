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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        AccountGrant, AppAuthPolicySpec, DeletionPolicy, NamespaceSelection, ServiceGrant,
    };

    fn policy(name: &str, instances: &[&str]) -> AppAuthPolicy {
        AppAuthPolicy::new(
            name,
            AppAuthPolicySpec {
                namespaces: NamespaceSelection {
                    names: vec!["x".into()],
                    selector: None,
                },
                accounts: vec![AccountGrant::Default],
                services: vec![ServiceGrant::Apig],
                instances: instances.iter().map(|i| i.to_string()).collect(),
                adoption: false,
                deletion_policies: vec![DeletionPolicy::Delete],
            },
        )
    }

    #[test]
    fn the_pattern_matcher_agrees_with_the_regex_admission_uses() {
        let patterns = [
            "*", "inst-*", "*-prod", "a*b*c", "exact", "ws.1", "a**b", "*x*", "",
        ];
        let texts = [
            "", "inst-1", "inst-", "x-prod", "abc", "aXbYc", "acb", "exact", "ws.1", "wsx1", "ab",
            "x", "prod",
        ];
        for p in patterns {
            let re = regex::Regex::new(&glob_regex(p)).expect("valid regex");
            for t in texts {
                assert_eq!(
                    glob_matches(p, t),
                    re.is_match(t),
                    "pattern {p:?} text {t:?}"
                );
            }
        }
    }

    #[test]
    fn compiled_grants_are_in_name_order_with_regexes() {
        let b = policy("b", &["ws.*"]);
        let a = policy("a", &["*"]);
        let compiled = compile(&[&b, &a]);
        let names: Vec<&str> = compiled.grants.iter().map(|g| g.policy.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(compiled.grants[1].instance_regexes, ["^ws\\..*$"]);
    }
}
