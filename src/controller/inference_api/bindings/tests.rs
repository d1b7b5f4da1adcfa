use super::*;

fn r(ready_id: Option<&str>, held_id: Option<&str>) -> Ref {
    Ref {
        name: "x".into(),
        app_id: ready_id.map(str::to_string),
        held_id: held_id.map(str::to_string),
        waiting: None,
    }
}

#[test]
fn bindings_are_removed_only_when_no_ref_holds_the_app() {
    let current: BTreeSet<String> = ["a", "b"].map(String::from).into();
    let cases = [
        (
            "both Ready",
            vec![r(Some("a"), Some("a")), r(Some("b"), Some("b"))],
            vec![],
            vec![],
        ),
        (
            "b not Ready for a moment",
            vec![r(Some("a"), Some("a")), r(None, Some("b"))],
            vec![],
            vec![],
        ),
        (
            "b left appRefs",
            vec![r(Some("a"), Some("a"))],
            vec![],
            vec!["b"],
        ),
        (
            "b being deleted or gone",
            vec![r(Some("a"), Some("a")), r(None, None)],
            vec![],
            vec!["b"],
        ),
        (
            "b replaced by c",
            vec![r(Some("a"), Some("a")), r(Some("c"), Some("c"))],
            vec!["c"],
            vec!["b"],
        ),
        (
            "b replaced, c not Ready yet",
            vec![r(Some("a"), Some("a")), r(None, Some("c"))],
            vec![],
            vec!["b"],
        ),
    ];
    for (name, refs, bind, unbind) in cases {
        let (to_bind, to_unbind) = plan(&refs, &current);
        assert_eq!(
            (to_bind, to_unbind),
            (
                bind.iter().map(|s| s.to_string()).collect(),
                unbind.iter().map(|s| s.to_string()).collect()
            ),
            "{name}"
        );
    }
}

fn account() -> Account {
    let data = [
        ("region", "cn-north-4"),
        ("projectId", "p1"),
        ("accessKey", "AK"),
        ("secretKey", "SK"),
    ]
    .into_iter()
    .map(|(k, v)| {
        (
            k.to_string(),
            k8s_openapi::ByteString(v.as_bytes().to_vec()),
        )
    })
    .collect();
    match crate::controller::account::from_secret_data("acct", &data).expect("account") {
        crate::controller::account::SecretAccount::Ready(account) => account,
        other => panic!("keys make a ready account: {other:?}"),
    }
}

fn gateway_app(
    spec: serde_json::Value,
    status: serde_json::Value,
    deleting: bool,
) -> Arc<GatewayApp> {
    let mut metadata = serde_json::json!({"name": "g", "namespace": "ns"});
    if deleting {
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
    }
    let app = serde_json::json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1",
        "kind": "GatewayApp",
        "metadata": metadata,
        "spec": spec,
        "status": status,
    });
    Arc::new(serde_json::from_value(app).expect("GatewayApp"))
}

#[test]
fn refs_resolve_from_the_cache_and_bad_ones_name_the_field() {
    use serde_json::json;
    let api: InferenceApi = serde_json::from_value(json!({
        "apiVersion": "appauth.hwcloud.dev/v1alpha1",
        "kind": "InferenceApi",
        "metadata": {"name": "api", "namespace": "ns"},
        "spec": {"workspaceId": "w", "serviceId": "s", "appRefs": [{"name": "g"}]},
    }))
    .expect("InferenceApi");
    let modelarts = json!({"modelarts": {"workspaceId": "w"}});
    let ready = |id: &str, project: &str| {
        json!({
            "appId": id, "project": project, "region": "cn-north-4",
            "conditions": [{"type": "Ready", "status": "True", "reason": "Available", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        })
    };
    // (case, the cached app, want: Ok((app_id, held_id, waiting)) or Err(message part))
    type Want = Result<
        (
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        ),
        &'static str,
    >;
    let cases: Vec<(&str, Option<Arc<GatewayApp>>, Want)> = vec![
        (
            "not in the cache",
            None,
            Ok((None, None, Some("g: GatewayApp not found"))),
        ),
        (
            "Ready",
            Some(gateway_app(modelarts.clone(), ready("a1", "p1"), false)),
            Ok((Some("a1"), Some("a1"), None)),
        ),
        (
            "not Ready yet, no id",
            Some(gateway_app(modelarts.clone(), json!({}), false)),
            Ok((None, None, Some("g: not Ready"))),
        ),
        (
            "not Ready for a moment: its id is held",
            Some(gateway_app(
                modelarts.clone(),
                json!({"appId": "a1"}),
                false,
            )),
            Ok((None, Some("a1"), Some("g: not Ready"))),
        ),
        (
            "being deleted",
            Some(gateway_app(modelarts.clone(), ready("a1", "p1"), true)),
            Ok((None, None, Some("g: being deleted"))),
        ),
        (
            "another service",
            Some(gateway_app(
                json!({"apig": {"instanceId": "i"}}),
                json!({}),
                false,
            )),
            Err("spec.appRefs[0] (g): only modelarts"),
        ),
        (
            "another account",
            Some(gateway_app(modelarts.clone(), ready("a1", "p2"), false)),
            Err("spec.appRefs[0] (g): the app lives in another account"),
        ),
    ];
    for (name, cached, want) in cases {
        let got = resolve_refs(&api, |n| cached.clone().filter(|_| n == "g"), &account());
        match (got, want) {
            (Ok(refs), Ok((app_id, held_id, waiting))) => {
                assert_eq!(refs.len(), 1, "{name}");
                assert_eq!(refs[0].app_id.as_deref(), app_id, "{name}");
                assert_eq!(refs[0].held_id.as_deref(), held_id, "{name}");
                assert_eq!(refs[0].waiting.as_deref(), waiting, "{name}");
            }
            (
                Err(Error::Failed {
                    reason, message, ..
                }),
                Err(part),
            ) => {
                assert_eq!(reason, Reason::InvalidSpec, "{name}");
                assert!(message.contains(part), "{name}: {message}");
            }
            (got, _) => panic!("{name}: unexpected {:?}", got.map(|r| r.len())),
        }
    }
}
