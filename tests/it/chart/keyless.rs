//! What `helm template` renders for the default account's keyless sources and the proxies:
//! federation (the projected token, its audience, the variables), tenants' own ServiceAccounts
//! (RBAC on `serviceaccounts/token` only when asked, cluster-wide or in the watched namespace),
//! CCE Pod Identity, the instance metadata flag, and the proxies; and that none of it renders
//! unless asked.

use serde_json::{Value, json};

use super::support::{
    args, container, deployment, find, grant, grants, keyless_values, render, template,
};

const FEDERATION_DIR: &str = "/var/run/secrets/appauth-operator/federation";
const POD_IDENTITY_DIR: &str = "/var/run/secrets/appauth-operator/pod-identity";

fn env_value<'a>(objects: &'a [Value], name: &str) -> Option<&'a str> {
    container(objects)["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e["value"].as_str().expect("a literal value"))
}

fn volume<'a>(objects: &'a [Value], name: &str) -> Option<&'a Value> {
    deployment(objects)["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == name)
}

fn mount<'a>(objects: &'a [Value], name: &str) -> Option<&'a Value> {
    container(objects)["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["name"] == name)
}

/// Every rule on `serviceaccounts`, in any rendered role.
fn token_rules(objects: &[Value]) -> Vec<(String, String)> {
    objects
        .iter()
        .filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "Role")
        .filter(|o| {
            grants(o)
                .iter()
                .any(|(_, r, _)| r.starts_with("serviceaccounts"))
        })
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_string(),
                o["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn federation_projects_the_token_with_its_audience_and_points_the_operator_at_it() {
    let objs = render(
        "appauth",
        "ops",
        &json!({"cloud": {"region": "cn-north-4"}, "federation": {"idpId": "cce-cluster-1"}}),
    );
    assert_eq!(
        volume(&objs, "federation-token").expect("the token volume"),
        &json!({"name": "federation-token", "projected": {"sources": [{"serviceAccountToken":
            {"audience": "appauth-operator", "expirationSeconds": 3600, "path": "token"}}]}}),
    );
    assert_eq!(
        mount(&objs, "federation-token").expect("the token mount"),
        &json!({"name": "federation-token", "mountPath": FEDERATION_DIR, "readOnly": true})
    );
    assert_eq!(
        env_value(&objs, "HUAWEICLOUD_SDK_IDP_ID"),
        Some("cce-cluster-1")
    );
    assert_eq!(
        env_value(&objs, "HUAWEICLOUD_SDK_ID_TOKEN_FILE"),
        Some(format!("{FEDERATION_DIR}/token").as_str())
    );
    let a = args(&objs);
    for want in [
        "--token-audience=appauth-operator",
        "--credential-duration=1h",
        "--region=cn-north-4",
    ] {
        assert!(a.contains(&want.to_string()), "{want} in {a:?}");
    }
    assert!(
        a.iter().all(|x| !x.starts_with("--project-id")),
        "the project is looked up from the region: {a:?}"
    );
    assert!(
        token_rules(&objs).is_empty(),
        "federation of the operator's own token needs no RBAC"
    );

    // The audience is one value: the token's and the one asked for tenants' tokens.
    let objs = render(
        "appauth",
        "ops",
        &json!({"federation": {"idpId": "cce-cluster-1", "audience": "iam.example.com",
                               "tokenExpirationSeconds": 600, "credentialDuration": "6h"}}),
    );
    let source = &volume(&objs, "federation-token").expect("volume")["projected"]["sources"][0];
    assert_eq!(
        source["serviceAccountToken"],
        json!({"audience": "iam.example.com", "expirationSeconds": 600, "path": "token"})
    );
    let a = args(&objs);
    for want in [
        "--token-audience=iam.example.com",
        "--credential-duration=6h",
    ] {
        assert!(a.contains(&want.to_string()), "{want} in {a:?}");
    }
}

#[test]
fn nothing_keyless_renders_unless_asked() {
    for values in [
        json!({}),
        json!({"credentials": {"existingSecret": "hwcloud-account"}}),
    ] {
        let objs = render("appauth", "ops", &values);
        let pod = deployment(&objs)["spec"]["template"]["spec"].to_string();
        for absent in [
            "federation-token",
            "pod-identity-token",
            "serviceAccountToken",
            "HUAWEICLOUD_SDK_",
            "HC_CONTAINER_",
            "_PROXY",
        ] {
            assert!(!pod.contains(absent), "{absent} in the Pod of {values}");
        }
        let a = args(&objs);
        for absent in [
            "--token-audience",
            "--credential-duration",
            "--instance-metadata",
            "--apiserver-proxy",
        ] {
            assert!(
                a.iter().all(|x| !x.starts_with(absent)),
                "{absent} in {a:?}"
            );
        }
        assert!(token_rules(&objs).is_empty(), "{values}");
    }
}

/// Tenants' own ServiceAccounts: `create` on `serviceaccounts/token`, and nothing else more,
/// in the operator's ClusterRole (all namespaces) or its Role in the watched namespace.
#[test]
fn namespace_service_accounts_add_only_create_on_serviceaccounts_token() {
    let token = grant("", "serviceaccounts/token", "create");
    let name = "appauth-appauth-operator";

    let without = render("appauth", "ops", &json!({}));
    let with = render(
        "appauth",
        "ops",
        &json!({"federation": {"namespaceServiceAccounts": true}}),
    );
    let before = grants(find(&without, "ClusterRole", name));
    let mut after = grants(find(&with, "ClusterRole", name));
    assert!(after.remove(&token), "the ClusterRole grants it");
    assert_eq!(after, before, "and nothing else changes");
    assert_eq!(
        token_rules(&with),
        [("ClusterRole".to_string(), name.to_string())],
        "only the operator's own ClusterRole"
    );
    let rule = find(&with, "ClusterRole", name)["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resources"] == json!(["serviceaccounts/token"]))
        .expect("the rule")
        .clone();
    assert!(
        rule.get("resourceNames").is_none(),
        "no names: they are the tenants'"
    );
    // Without the operator's own federation, the audience is still passed for tenants' tokens,
    // and no token is projected.
    let a = args(&with);
    assert!(
        a.contains(&"--token-audience=appauth-operator".to_string()),
        "{a:?}"
    );
    assert!(volume(&with, "federation-token").is_none());

    let one_namespace = |extra: bool| {
        render(
            "appauth",
            "ops",
            &json!({"watchNamespace": "team-a",
                    "federation": {"namespaceServiceAccounts": extra}}),
        )
    };
    let without = one_namespace(false);
    let with = one_namespace(true);
    let role = find(&with, "Role", name);
    assert_eq!(role["metadata"]["namespace"], "team-a");
    let mut after = grants(role);
    assert!(
        after.remove(&token),
        "the Role in the watched namespace grants it"
    );
    assert_eq!(after, grants(find(&without, "Role", name)));
    assert_eq!(
        token_rules(&with),
        [("Role".to_string(), name.to_string())],
        "nothing cluster-wide"
    );
    assert!(token_rules(&without).is_empty());
}

#[test]
fn pod_identity_projects_the_cce_token_and_needs_the_agent_uri() {
    let uri = "http://169.254.170.2/v1/credentials";
    let objs = render(
        "appauth",
        "ops",
        &json!({"podIdentity": {"enabled": true, "uri": uri}}),
    );
    assert_eq!(
        volume(&objs, "pod-identity-token").expect("the token volume")["projected"]["sources"],
        json!([{"serviceAccountToken":
            {"audience": "service.cce.pods", "expirationSeconds": 3600, "path": "token"}}])
    );
    assert_eq!(
        mount(&objs, "pod-identity-token").expect("the mount"),
        &json!({"name": "pod-identity-token", "mountPath": POD_IDENTITY_DIR, "readOnly": true})
    );
    assert_eq!(
        env_value(&objs, "HC_CONTAINER_CREDENTIALS_FULL_URI"),
        Some(uri)
    );
    assert_eq!(
        env_value(&objs, "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        Some(format!("{POD_IDENTITY_DIR}/token").as_str())
    );
    assert!(volume(&objs, "federation-token").is_none());

    let refused = template(
        "appauth",
        "ops",
        &json!({"podIdentity": {"enabled": true}}),
        &[],
    )
    .expect_err("no agent URI");
    assert!(refused.contains("needs podIdentity.uri"), "{refused}");
}

#[test]
fn instance_metadata_is_a_flag_only_when_enabled() {
    let objs = render(
        "appauth",
        "ops",
        &json!({"instanceMetadata": {"enabled": true}}),
    );
    let a = args(&objs);
    for want in [
        "--instance-metadata=true",
        "--instance-metadata-url=http://169.254.169.254",
    ] {
        assert!(a.contains(&want.to_string()), "{want} in {a:?}");
    }
    let objs = render(
        "appauth",
        "ops",
        &json!({"instanceMetadata": {"enabled": false, "url": "http://10.0.0.1"}}),
    );
    assert!(
        args(&objs)
            .iter()
            .all(|x| !x.starts_with("--instance-metadata")),
        "a URL alone enables nothing"
    );
}

/// HTTPS_PROXY, HTTP_PROXY and NO_PROXY are for the cloud calls; the apiserver's proxy is a
/// flag of its own.
#[test]
fn proxies_are_environment_for_the_cloud_and_a_flag_for_the_apiserver() {
    let objs = render("appauth", "ops", &keyless_values());
    assert_eq!(
        env_value(&objs, "HTTPS_PROXY"),
        Some("http://proxy.example.com:3128")
    );
    assert_eq!(
        env_value(&objs, "HTTP_PROXY"),
        Some("http://proxy.example.com:3128")
    );
    assert_eq!(
        env_value(&objs, "NO_PROXY"),
        Some("169.254.169.254,169.254.170.2,.svc,.cluster.local")
    );
    let a = args(&objs);
    assert!(
        a.contains(&"--apiserver-proxy=http://apiserver-proxy.example.com:8888".to_string()),
        "{a:?}"
    );

    // One proxy alone renders only its variable.
    let objs = render(
        "appauth",
        "ops",
        &json!({"proxy": {"httpsProxy": "http://proxy.example.com:3128"}}),
    );
    let names: Vec<&str> = container(&objs)["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .filter(|n| n.ends_with("_PROXY"))
        .collect();
    assert_eq!(names, ["HTTPS_PROXY"]);
    assert!(
        args(&objs)
            .iter()
            .all(|x| !x.starts_with("--apiserver-proxy"))
    );
}

/// Everything keyless at once with a credentials Secret: all of it renders (the operator takes
/// the first source configured, federation), and the Secret is still mounted.
#[test]
fn federation_and_a_credentials_secret_render_together() {
    let objs = render("appauth", "ops", &keyless_values());
    for v in ["federation-token", "pod-identity-token", "credentials"] {
        assert!(volume(&objs, v).is_some(), "volume {v}");
        assert!(mount(&objs, v).is_some(), "mount {v}");
    }
    let a = args(&objs);
    assert!(
        a.contains(&"--credentials-dir=/etc/appauth-operator/credentials".to_string()),
        "{a:?}"
    );
    assert_eq!(
        env_value(&objs, "HUAWEICLOUD_SDK_IDP_ID"),
        Some("cce-cluster-1")
    );
    assert_eq!(
        token_rules(&objs),
        [(
            "ClusterRole".to_string(),
            "appauth-appauth-operator".to_string()
        )]
    );
}
