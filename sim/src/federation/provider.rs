//! Configuration of who may exchange tokens: OIDC identity providers (classic IAM federation)
//! and CCE Pod Identity, with their key sources and mapping rules. Pure: validation and
//! matching only; fetching lives in `fetch`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::jwk;

fn yes() -> bool {
    true
}

/// `sub` (exact, or a prefix when it ends with `*`) -> the IAM user name of a simulator account.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub sub: String,
    pub user: String,
}

impl Mapping {
    pub fn matches(&self, sub: &str) -> bool {
        match self.sub.strip_suffix('*') {
            Some(prefix) => sub.starts_with(prefix),
            None => sub == self.sub,
        }
    }
}

/// Where an issuer's public keys come from: inline, or fetched from a URL.
#[derive(Clone, Copy, Debug)]
pub struct KeySource<'a> {
    pub jwks: Option<&'a Value>,
    pub url: Option<&'a str>,
    pub ca_file: Option<&'a str>,
    pub bearer_token_file: Option<&'a str>,
}

impl KeySource<'_> {
    /// Exactly one of an inline JWKS and a URL; files only with a URL.
    fn validate(&self) -> Result<(), String> {
        match (self.jwks, self.url) {
            (Some(_), Some(_)) => return Err("give jwks or jwks_url, not both".into()),
            (None, None) => return Err("jwks or jwks_url is required".into()),
            (Some(jwks), None) => {
                jwk::keys_of(jwks).map_err(|e| format!("jwks: {e}"))?;
                if self.ca_file.is_some() || self.bearer_token_file.is_some() {
                    return Err("jwks_ca_file and jwks_bearer_token_file need jwks_url".into());
                }
            }
            (None, Some(url)) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!("jwks_url {url} is not an http(s) URL"));
                }
            }
        }
        Ok(())
    }
}

/// An OIDC identity provider of classic IAM, as `PUT /_sim/identity-providers/{id}` takes it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IdentityProvider {
    /// From the path on PUT; a body may repeat it.
    #[serde(default)]
    pub id: String,
    /// Must equal the tokens' `iss`.
    pub issuer: String,
    /// Must be one of the tokens' `aud`.
    pub client_id: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub jwks: Option<Value>,
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default)]
    pub jwks_ca_file: Option<String>,
    #[serde(default)]
    pub jwks_bearer_token_file: Option<String>,
    #[serde(default)]
    pub mappings: Vec<Mapping>,
}

fn non_empty(what: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{what} must not be empty"))
    } else {
        Ok(())
    }
}

impl IdentityProvider {
    pub fn key_source(&self) -> KeySource<'_> {
        KeySource {
            jwks: self.jwks.as_ref(),
            url: self.jwks_url.as_deref(),
            ca_file: self.jwks_ca_file.as_deref(),
            bearer_token_file: self.jwks_bearer_token_file.as_deref(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        non_empty("id", &self.id)?;
        if self.id.contains('/') {
            return Err("id must not contain /".into());
        }
        non_empty("issuer", &self.issuer)?;
        non_empty("client_id", &self.client_id)?;
        self.key_source().validate()?;
        for m in &self.mappings {
            non_empty("mappings[].sub", &m.sub)?;
            non_empty("mappings[].user", &m.user)?;
        }
        Ok(())
    }

    /// The user of the first mapping rule that matches `sub`.
    pub fn mapped_user(&self, sub: &str) -> Option<&str> {
        self.mappings
            .iter()
            .find(|m| m.matches(sub))
            .map(|m| m.user.as_str())
    }

    /// The key of this provider's JWKS cache entry.
    pub fn cache_key(&self) -> String {
        format!("idp:{}", self.id)
    }
}

/// One ServiceAccount allowed to get credentials through Pod Identity.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PodAssociation {
    pub namespace: String,
    pub service_account: String,
    /// IAM user name of the simulator account the Pod acts as.
    pub user: String,
}

/// CCE Pod Identity: the cluster's ServiceAccount issuer and the associations.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PodIdentity {
    pub issuer: String,
    #[serde(default)]
    pub jwks: Option<Value>,
    #[serde(default)]
    pub jwks_url: Option<String>,
    #[serde(default)]
    pub jwks_ca_file: Option<String>,
    #[serde(default)]
    pub jwks_bearer_token_file: Option<String>,
    #[serde(default)]
    pub associations: Vec<PodAssociation>,
}

/// The audience CCE requires of projected ServiceAccount tokens.
pub const POD_IDENTITY_AUDIENCE: &str = "service.cce.pods";
/// The cache key of the Pod Identity issuer's JWKS.
pub const POD_IDENTITY_CACHE_KEY: &str = "pod-identity";

impl PodIdentity {
    pub fn key_source(&self) -> KeySource<'_> {
        KeySource {
            jwks: self.jwks.as_ref(),
            url: self.jwks_url.as_deref(),
            ca_file: self.jwks_ca_file.as_deref(),
            bearer_token_file: self.jwks_bearer_token_file.as_deref(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        non_empty("issuer", &self.issuer)?;
        self.key_source().validate()?;
        for a in &self.associations {
            non_empty("associations[].namespace", &a.namespace)?;
            non_empty("associations[].service_account", &a.service_account)?;
            non_empty("associations[].user", &a.user)?;
        }
        Ok(())
    }

    /// The association of `sub` = `system:serviceaccount:<ns>:<sa>`.
    pub fn association(&self, sub: &str) -> Option<&PodAssociation> {
        let (ns, sa) = service_account_of(sub)?;
        self.associations
            .iter()
            .find(|a| a.namespace == ns && a.service_account == sa)
    }
}

/// `(namespace, name)` of a ServiceAccount token's `sub`.
pub fn service_account_of(sub: &str) -> Option<(&str, &str)> {
    let rest = sub.strip_prefix("system:serviceaccount:")?;
    let (ns, sa) = rest.split_once(':')?;
    (!ns.is_empty() && !sa.is_empty() && !sa.contains(':')).then_some((ns, sa))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn idp(v: Value) -> Result<IdentityProvider, String> {
        let p: IdentityProvider = serde_json::from_value(v).map_err(|e| e.to_string())?;
        p.validate().map(|()| p)
    }

    #[test]
    fn mapping_rules() {
        let p = idp(json!({"id": "k8s", "issuer": "https://i", "client_id": "c",
            "jwks": {"keys": []},
            "mappings": [{"sub": "system:serviceaccount:ns1:op", "user": "exact"},
                         {"sub": "system:serviceaccount:ns2:*", "user": "prefix"},
                         {"sub": "*", "user": "anyone"}]}))
        .expect("valid");
        let cases = [
            ("system:serviceaccount:ns1:op", "exact"),
            ("system:serviceaccount:ns1:op2", "anyone"),
            ("system:serviceaccount:ns2:x", "prefix"),
            ("system:serviceaccount:ns2:", "prefix"),
            ("", "anyone"),
        ];
        for (sub, want) in cases {
            assert_eq!(p.mapped_user(sub), Some(want), "{sub}");
        }
        let strict = idp(json!({"id": "k", "issuer": "i", "client_id": "c",
            "jwks": {"keys": []}, "mappings": [{"sub": "a", "user": "u"}]}))
        .expect("valid");
        assert_eq!(strict.mapped_user("ab"), None);
        assert_eq!(strict.mapped_user("a"), Some("u"));
    }

    #[test]
    fn provider_validation() {
        let base = json!({"id": "k", "issuer": "https://i", "client_id": "c"});
        let with = |extra: Value| {
            let mut v = base.clone();
            for (k, x) in extra.as_object().cloned().unwrap_or_default() {
                v[k] = x;
            }
            v
        };
        let cases = [
            (with(json!({"jwks": {"keys": []}})), None),
            (
                with(json!({"jwks_url": "https://h/jwks", "jwks_ca_file": "/ca"})),
                None,
            ),
            (with(json!({})), Some("jwks or jwks_url is required")),
            (
                with(json!({"jwks": {"keys": []}, "jwks_url": "https://h"})),
                Some("not both"),
            ),
            (with(json!({"jwks": []})), Some("\"keys\" array")),
            (
                with(json!({"jwks_url": "ftp://h"})),
                Some("not an http(s) URL"),
            ),
            (
                with(json!({"jwks": {"keys": []}, "jwks_ca_file": "/ca"})),
                Some("need jwks_url"),
            ),
            (
                with(json!({"jwks": {"keys": []}, "id": "a/b"})),
                Some("must not contain /"),
            ),
            (
                with(json!({"jwks": {"keys": []}, "client_id": ""})),
                Some("client_id"),
            ),
            (
                with(json!({"jwks": {"keys": []}, "mappings": [{"sub": "", "user": "u"}]})),
                Some("mappings[].sub"),
            ),
            (
                with(json!({"jwks": {"keys": []}, "bogus": 1})),
                Some("unknown field"),
            ),
        ];
        for (body, want) in cases {
            match (idp(body.clone()), want) {
                (Ok(p), None) => assert!(p.enabled, "enabled by default"),
                (Err(e), Some(w)) => assert!(e.contains(w), "{body}: {e}"),
                (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn service_account_subjects() {
        let cases = [
            ("system:serviceaccount:ns:sa", Some(("ns", "sa"))),
            ("system:serviceaccount:ns:", None),
            ("system:serviceaccount::sa", None),
            ("system:serviceaccount:ns:sa:x", None),
            ("system:node:n1", None),
        ];
        for (sub, want) in cases {
            assert_eq!(service_account_of(sub), want, "{sub}");
        }
        let pi: PodIdentity = serde_json::from_value(json!({"issuer": "i", "jwks": {"keys": []},
            "associations": [{"namespace": "ns", "service_account": "sa", "user": "u"}]}))
        .expect("parse");
        pi.validate().expect("valid");
        assert_eq!(
            pi.association("system:serviceaccount:ns:sa")
                .map(|a| a.user.as_str()),
            Some("u")
        );
        assert!(pi.association("system:serviceaccount:ns:other").is_none());
    }
}
