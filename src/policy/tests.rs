use super::*;
use crate::api::{NamespaceSelector, SelectorRequirement};

fn policy(name: &str, names: &[&str], spec: impl FnOnce(&mut AppAuthPolicySpec)) -> AppAuthPolicy {
    let mut s = AppAuthPolicySpec {
        namespaces: NamespaceSelection {
            names: names.iter().map(|n| n.to_string()).collect(),
            selector: None,
        },
        accounts: vec![AccountGrant::Default, AccountGrant::OwnSecrets],
        services: vec![ServiceGrant::Apig],
        instances: vec!["*".into()],
        adoption: false,
        deletion_policies: vec![DeletionPolicy::Delete, DeletionPolicy::Retain],
    };
    spec(&mut s);
    AppAuthPolicy::new(name, s)
}

fn request() -> Request {
    Request {
        namespace: "shop".into(),
        own_account: false,
        service: ServiceGrant::Apig,
        instance: "inst-1".into(),
        adoption: false,
        deletion_policy: DeletionPolicy::Delete,
    }
}

#[test]
fn grants_are_additive_per_policy_not_per_rule() {
    let apig_delete = policy("a", &["shop"], |s| {
        s.deletion_policies = vec![DeletionPolicy::Delete]
    });
    let roma_retain = policy("b", &["shop"], |s| {
        s.services = vec![ServiceGrant::Roma];
        s.deletion_policies = vec![DeletionPolicy::Retain];
    });
    let other_ns = policy("c", &["other"], |_| {});
    let labels = BTreeMap::new();
    let both = [&apig_delete, &roma_retain];
    let roma = |d| Request {
        service: ServiceGrant::Roma,
        deletion_policy: d,
        ..request()
    };
    let cases: [(&str, Vec<&AppAuthPolicy>, Request, bool, Decision); 8] = [
        (
            "no policy: served",
            vec![],
            request(),
            false,
            Decision::Allowed,
        ),
        (
            "no policy, adoption with the flag off",
            vec![],
            Request {
                adoption: true,
                ..request()
            },
            false,
            Decision::AdoptionOff,
        ),
        (
            "no policy, adoption with the flag on",
            vec![],
            Request {
                adoption: true,
                ..request()
            },
            true,
            Decision::Allowed,
        ),
        (
            "first policy allows",
            both.to_vec(),
            request(),
            false,
            Decision::Allowed,
        ),
        (
            "second policy allows",
            both.to_vec(),
            roma(DeletionPolicy::Retain),
            false,
            Decision::Allowed,
        ),
        (
            "each allows half: refused",
            both.to_vec(),
            roma(DeletionPolicy::Delete),
            false,
            Decision::Refused(vec![
                ("a".into(), Rule::Services),
                ("b".into(), Rule::DeletionPolicies),
            ]),
        ),
        (
            "a policy for another namespace only",
            vec![&other_ns],
            request(),
            true,
            Decision::NamespaceNotGranted,
        ),
        (
            "the flag does not grant adoption once policies exist",
            vec![&apig_delete],
            Request {
                adoption: true,
                ..request()
            },
            true,
            Decision::Refused(vec![("a".into(), Rule::Adoption)]),
        ),
    ];
    for (name, policies, req, flag, want) in cases {
        assert_eq!(decide(&policies, &req, &labels, flag), want, "{name}");
    }
}

#[test]
fn each_rule_refuses_what_it_does_not_list() {
    let base = policy("p", &["shop"], |s| {
        s.accounts = vec![AccountGrant::OwnSecrets];
        s.services = vec![ServiceGrant::Apig, ServiceGrant::Modelarts];
        s.instances = vec!["inst-*".into(), "ws-exact".into()];
        s.adoption = true;
        s.deletion_policies = vec![DeletionPolicy::Retain];
    });
    let ok = Request {
        own_account: true,
        deletion_policy: DeletionPolicy::Retain,
        ..request()
    };
    let cases = [
        ("all allowed", ok.clone(), None),
        (
            "default account",
            Request {
                own_account: false,
                ..ok.clone()
            },
            Some(Rule::Accounts),
        ),
        (
            "service",
            Request {
                service: ServiceGrant::Roma,
                ..ok.clone()
            },
            Some(Rule::Services),
        ),
        (
            "instance",
            Request {
                instance: "x-1".into(),
                ..ok.clone()
            },
            Some(Rule::Instances),
        ),
        (
            "exact instance",
            Request {
                instance: "ws-exact".into(),
                ..ok.clone()
            },
            None,
        ),
        (
            "exact is not a prefix",
            Request {
                instance: "ws-exactly".into(),
                ..ok.clone()
            },
            Some(Rule::Instances),
        ),
        (
            "adoption granted",
            Request {
                adoption: true,
                ..ok.clone()
            },
            None,
        ),
        (
            "deletion policy",
            Request {
                deletion_policy: DeletionPolicy::Delete,
                ..ok.clone()
            },
            Some(Rule::DeletionPolicies),
        ),
    ];
    for (name, req, want) in cases {
        assert_eq!(refused_rule(&base.spec, &req), want, "{name}");
    }
    let no_adoption = policy("p", &["shop"], |_| {});
    assert_eq!(
        refused_rule(
            &no_adoption.spec,
            &Request {
                adoption: true,
                ..request()
            }
        ),
        Some(Rule::Adoption)
    );
}

#[test]
fn namespaces_by_name_and_by_selector() {
    let labels: BTreeMap<String, String> = [
        ("team".to_string(), "a".to_string()),
        ("tier".to_string(), "prod".to_string()),
    ]
    .into();
    let req = |key: &str, op, values: &[&str]| SelectorRequirement {
        key: key.into(),
        operator: op,
        values: values.iter().map(|v| v.to_string()).collect(),
    };
    let by = |labels: &[(&str, &str)], exprs: Vec<SelectorRequirement>| NamespaceSelection {
        names: vec!["named".into()],
        selector: Some(NamespaceSelector {
            match_labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            match_expressions: exprs,
        }),
    };
    let cases = [
        ("by name", by(&[("nope", "x")], vec![]), "named", true),
        ("matchLabels", by(&[("team", "a")], vec![]), "ns", true),
        (
            "matchLabels differ",
            by(&[("team", "b")], vec![]),
            "ns",
            false,
        ),
        (
            "empty selector: every namespace",
            by(&[], vec![]),
            "ns",
            true,
        ),
        (
            "In",
            by(
                &[],
                vec![req("tier", SelectorOperator::In, &["prod", "stage"])],
            ),
            "ns",
            true,
        ),
        (
            "In, absent key",
            by(&[], vec![req("zone", SelectorOperator::In, &["a"])]),
            "ns",
            false,
        ),
        (
            "NotIn",
            by(&[], vec![req("tier", SelectorOperator::NotIn, &["prod"])]),
            "ns",
            false,
        ),
        (
            "NotIn, absent key",
            by(&[], vec![req("zone", SelectorOperator::NotIn, &["a"])]),
            "ns",
            true,
        ),
        (
            "Exists",
            by(&[], vec![req("team", SelectorOperator::Exists, &[])]),
            "ns",
            true,
        ),
        (
            "DoesNotExist",
            by(&[], vec![req("team", SelectorOperator::DoesNotExist, &[])]),
            "ns",
            false,
        ),
        (
            "labels and expressions together",
            by(
                &[("team", "a")],
                vec![req("tier", SelectorOperator::NotIn, &["dev"])],
            ),
            "ns",
            true,
        ),
    ];
    for (name, selection, ns, want) in cases {
        assert_eq!(selects(&selection, ns, &labels), want, "{name}");
    }
    let names_only = NamespaceSelection {
        names: vec!["a".into()],
        selector: None,
    };
    assert!(
        !selects(&names_only, "b", &labels),
        "no selector: names only"
    );
}

#[test]
fn a_deletion_follows_what_the_grants_allow_not_a_last_minute_switch() {
    let retain_only = policy("r", &["shop"], |s| {
        s.deletion_policies = vec![DeletionPolicy::Retain]
    });
    let delete_only = policy("d", &["shop"], |s| {
        s.deletion_policies = vec![DeletionPolicy::Delete]
    });
    let both = policy("b", &["shop"], |_| {});
    let elsewhere = policy("x", &["other"], |s| {
        s.deletion_policies = vec![DeletionPolicy::Retain]
    });
    let two_rules = policy("s", &["shop"], |s| {
        s.services = vec![ServiceGrant::Roma];
        s.deletion_policies = vec![DeletionPolicy::Retain];
    });
    let labels = BTreeMap::new();
    let asking = |d| Request {
        deletion_policy: d,
        adoption: true,
        ..request()
    };
    let cases: [(&str, Vec<&AppAuthPolicy>, DeletionPolicy, DeletionPolicy); 6] = [
        (
            "no policy: as asked",
            vec![],
            DeletionPolicy::Delete,
            DeletionPolicy::Delete,
        ),
        (
            "Retain only, Delete asked: kept",
            vec![&retain_only],
            DeletionPolicy::Delete,
            DeletionPolicy::Retain,
        ),
        (
            "Delete only, Retain asked: deleted",
            vec![&delete_only],
            DeletionPolicy::Retain,
            DeletionPolicy::Delete,
        ),
        (
            "both allowed: as asked",
            vec![&both],
            DeletionPolicy::Retain,
            DeletionPolicy::Retain,
        ),
        (
            "namespace no longer granted: as asked (cleanup)",
            vec![&elsewhere],
            DeletionPolicy::Delete,
            DeletionPolicy::Delete,
        ),
        (
            "refused for another rule too: as asked",
            vec![&two_rules],
            DeletionPolicy::Delete,
            DeletionPolicy::Delete,
        ),
    ];
    for (name, policies, asked, want) in cases {
        assert_eq!(
            deletion_policy(&policies, &asking(asked), &labels),
            want,
            "{name}"
        );
    }
}
