//! The tenancy decision, as pure functions: which AppAuthPolicies grant a namespace, and
//! whether one of them allows what an object asks for. Grants are additive (a request is allowed
//! when some policy allows all of it); with no policy at all every namespace is served, and only
//! adoption is decided by the operator's flag.

mod compile;

pub use compile::{compile, glob_regex};

use std::collections::BTreeMap;

use crate::api::{
    AccountGrant, AppAuthPolicy, AppAuthPolicySpec, DeletionPolicy, NamespaceSelection,
    SelectorOperator, ServiceGrant,
};

/// What an object asks of the cloud, in the terms policies grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub namespace: String,
    /// Uses an accountRef Secret (else the operator's default account).
    pub own_account: bool,
    pub service: ServiceGrant,
    /// The instance or workspace id.
    pub instance: String,
    /// Binds to an app that exists and is not its own (adopt annotation, or an app-id
    /// annotation not yet bound).
    pub adoption: bool,
    pub deletion_policy: DeletionPolicy,
}

/// The answer, with what the messages need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No policy exists and the request adopts while the operator's flag forbids it.
    AdoptionOff,
    /// Policies exist and none grants the namespace.
    NamespaceNotGranted,
    /// Policies grant the namespace, but none allows all of the request: each policy's name
    /// and the first rule it refuses, in name order.
    Refused(Vec<(String, Rule)>),
}

/// The rules of a policy, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    Accounts,
    Services,
    Instances,
    Adoption,
    DeletionPolicies,
}

impl Rule {
    /// The field that states the rule.
    pub fn field(self) -> &'static str {
        match self {
            Rule::Accounts => "spec.accounts",
            Rule::Services => "spec.services",
            Rule::Instances => "spec.instances",
            Rule::Adoption => "spec.adoption",
            Rule::DeletionPolicies => "spec.deletionPolicies",
        }
    }
}

impl Decision {
    /// The refusal as a condition message; `None` when allowed.
    pub fn message(&self, request: &Request) -> Option<String> {
        match self {
            Decision::Allowed => None,
            Decision::AdoptionOff => Some(
                "adoption is not permitted: the operator runs with --allow-adoption=false and no AppAuthPolicy exists"
                    .into(),
            ),
            Decision::NamespaceNotGranted => Some(format!(
                "no AppAuthPolicy grants namespace {}",
                request.namespace
            )),
            Decision::Refused(refusals) => {
                let each: Vec<String> = refusals
                    .iter()
                    .map(|(policy, rule)| {
                        format!("AppAuthPolicy {policy} does not allow {}", what(request, *rule))
                    })
                    .collect();
                Some(format!("not permitted: {}", each.join("; ")))
            }
        }
    }
}

/// The refused part of a request, named by the rule that refuses it.
fn what(request: &Request, rule: Rule) -> String {
    let part = match rule {
        Rule::Accounts if request.own_account => "accountRef Secrets".to_string(),
        Rule::Accounts => "the default account".into(),
        Rule::Services => format!("service {}", request.service.as_str()),
        Rule::Instances => format!("instance {}", request.instance),
        Rule::Adoption => "adopting an existing app".into(),
        Rule::DeletionPolicies => format!("deletionPolicy {:?}", request.deletion_policy),
    };
    format!("{part} ({})", rule.field())
}

/// Whether a policy's namespace selection takes in a namespace with these labels.
pub fn selects(
    selection: &NamespaceSelection,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    selection.names.iter().any(|n| n == name)
        || selection.selector.as_ref().is_some_and(|s| {
            s.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
                && s.match_expressions.iter().all(|e| {
                    let value = labels.get(&e.key);
                    match e.operator {
                        SelectorOperator::In => value.is_some_and(|v| e.values.contains(v)),
                        SelectorOperator::NotIn => value.is_none_or(|v| !e.values.contains(v)),
                        SelectorOperator::Exists => value.is_some(),
                        SelectorOperator::DoesNotExist => value.is_none(),
                    }
                })
        })
}

/// The first rule of one policy that refuses the request (the namespace already matched).
pub fn refused_rule(spec: &AppAuthPolicySpec, request: &Request) -> Option<Rule> {
    let account = if request.own_account {
        AccountGrant::OwnSecrets
    } else {
        AccountGrant::Default
    };
    if !spec.accounts.contains(&account) {
        return Some(Rule::Accounts);
    }
    if !spec.services.contains(&request.service) {
        return Some(Rule::Services);
    }
    if !spec
        .instances
        .iter()
        .any(|p| compile::glob_matches(p, &request.instance))
    {
        return Some(Rule::Instances);
    }
    if request.adoption && !spec.adoption {
        return Some(Rule::Adoption);
    }
    if !spec.deletion_policies.contains(&request.deletion_policy) {
        return Some(Rule::DeletionPolicies);
    }
    None
}

/// The decision over every policy in force. `allow_adoption` is the operator's flag, which
/// decides adoption only while no policy exists.
pub fn decide(
    policies: &[&AppAuthPolicy],
    request: &Request,
    namespace_labels: &BTreeMap<String, String>,
    allow_adoption: bool,
) -> Decision {
    if policies.is_empty() {
        return if request.adoption && !allow_adoption {
            Decision::AdoptionOff
        } else {
            Decision::Allowed
        };
    }
    let mut refusals = Vec::new();
    for policy in policies {
        if !selects(
            &policy.spec.namespaces,
            &request.namespace,
            namespace_labels,
        ) {
            continue;
        }
        match refused_rule(&policy.spec, request) {
            None => return Decision::Allowed,
            Some(rule) => refusals.push((policy.metadata.name.clone().unwrap_or_default(), rule)),
        }
    }
    if refusals.is_empty() {
        return Decision::NamespaceNotGranted;
    }
    refusals.sort();
    Decision::Refused(refusals)
}

/// The deletion policy a deletion follows. A namespace may not delete (or leave behind) what its
/// grants say otherwise by switching the spec just before deleting: when no policy allows the
/// object with its own deletion policy but one allows it with the other, the other is followed.
/// Anything else (no policy, a namespace no longer granted) follows the spec, so that a
/// revoked namespace still cleans up what it made.
pub fn deletion_policy(
    policies: &[&AppAuthPolicy],
    request: &Request,
    namespace_labels: &BTreeMap<String, String>,
) -> DeletionPolicy {
    let asked = Request {
        adoption: false,
        ..request.clone()
    };
    let other = Request {
        deletion_policy: match asked.deletion_policy {
            DeletionPolicy::Delete => DeletionPolicy::Retain,
            DeletionPolicy::Retain => DeletionPolicy::Delete,
        },
        ..asked.clone()
    };
    let allowed = |r: &Request| decide(policies, r, namespace_labels, true) == Decision::Allowed;
    if !policies.is_empty() && !allowed(&asked) && allowed(&other) {
        other.deletion_policy
    } else {
        asked.deletion_policy
    }
}

#[cfg(test)]
mod tests;
