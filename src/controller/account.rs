//! Which cloud account an object uses: its `accountRef` Secret (same namespace only, never
//! merged with the default) or the operator's default account.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;

use crate::cloud::endpoints::valid_region;
use crate::cloud::{Account, Credentials, SecretString};

/// What an accountRef Secret describes: an account with keys or a password, or one whose
/// temporary credentials come from federating a ServiceAccount's token.
#[derive(Debug)]
pub enum SecretAccount {
    Ready(Account),
    Federated {
        region: String,
        /// Looked up from the region when empty.
        project_id: String,
        idp_id: String,
        service_account: ServiceAccountName,
    },
}

/// A ServiceAccount as an accountRef Secret names it: by name (this namespace), or written
/// with a namespace (`ns/name`, `system:serviceaccount:ns:name`), which is only accepted when
/// it is the Secret's own namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountName {
    pub namespace: Option<String>,
    pub name: String,
}

impl ServiceAccountName {
    pub fn parse(value: &str) -> Option<Self> {
        let (namespace, name) = if let Some(rest) = value.strip_prefix("system:serviceaccount:") {
            let (ns, name) = rest.split_once(':')?;
            (Some(ns.to_string()), name.to_string())
        } else if let Some((ns, name)) = value.split_once('/') {
            (Some(ns.to_string()), name.to_string())
        } else {
            (None, value.to_string())
        };
        let dns_label = |s: &str| {
            !s.is_empty()
                && s.len() <= 253
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        };
        (dns_label(&name) && namespace.as_deref().is_none_or(dns_label))
            .then_some(Self { namespace, name })
    }
}

/// Builds an account from an accountRef Secret's data. Errors name the missing or bad key and
/// never echo a value.
pub fn from_secret_data(
    name: &str,
    data: &BTreeMap<String, ByteString>,
) -> Result<SecretAccount, String> {
    let get = |key: &str| -> Option<String> {
        data.get(key)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let require =
        |key: &str| get(key).ok_or_else(|| format!("account Secret {name} has no key {key}"));
    let region = require("region")?;
    if !valid_region(&region) {
        return Err(format!(
            "account Secret {name}: region must match ^[a-z]+(-[a-z0-9]+)+$"
        ));
    }
    let federated = get("idpId");
    let project_id = match &federated {
        Some(_) => get("projectId").unwrap_or_default(),
        None => require("projectId")?,
    };
    if project_id.len() > 64
        || !project_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(format!(
            "account Secret {name}: projectId must be up to 64 letters, digits or -"
        ));
    }
    if let Some(idp_id) = federated {
        // It goes into a request header and names the credentials' cache.
        if idp_id.len() > 64
            || !idp_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(format!(
                "account Secret {name}: idpId must be up to 64 letters, digits, -, _ or ."
            ));
        }
        let service_account = require("serviceAccountName")?;
        let service_account = ServiceAccountName::parse(&service_account).ok_or_else(|| {
            format!("account Secret {name}: serviceAccountName must name a ServiceAccount of this namespace")
        })?;
        return Ok(SecretAccount::Federated {
            region,
            project_id,
            idp_id,
            service_account,
        });
    }
    let credentials = match (get("accessKey"), get("iamUser")) {
        (Some(access_key), _) => Credentials::AkSk {
            access_key,
            secret_key: SecretString::from(require("secretKey")?),
            security_token: get("securityToken").map(SecretString::from),
        },
        (None, Some(user)) => Credentials::Password {
            domain: require("iamDomain")?,
            user,
            password: SecretString::from(require("iamPassword")?),
        },
        (None, None) => {
            return Err(format!(
                "account Secret {name} needs accessKey and secretKey, iamDomain, iamUser and iamPassword, or idpId and serviceAccountName"
            ));
        }
    };
    Ok(SecretAccount::Ready(Account {
        region,
        project_id,
        credentials,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn aksk_and_password_accounts() {
        let a = from_secret_data(
            "acct",
            &data(&[
                ("region", "cn-north-4"),
                ("projectId", "p1"),
                ("accessKey", "AK"),
                ("secretKey", "SK"),
            ]),
        )
        .expect("aksk");
        assert!(
            matches!(&a, SecretAccount::Ready(a) if matches!(a.credentials, Credentials::AkSk { .. }))
        );
        let p = from_secret_data(
            "acct",
            &data(&[
                ("region", "cn-north-4"),
                ("projectId", "p1"),
                ("iamDomain", "d"),
                ("iamUser", "u"),
                ("iamPassword", "pw"),
            ]),
        )
        .expect("password");
        assert!(
            matches!(&p, SecretAccount::Ready(p) if matches!(p.credentials, Credentials::Password { .. }))
        );
        let f = from_secret_data(
            "acct",
            &data(&[
                ("region", "cn-north-4"),
                ("idpId", "k8s"),
                ("serviceAccountName", "workload"),
            ]),
        )
        .expect("federated");
        assert!(
            matches!(&f, SecretAccount::Federated { project_id, service_account, .. }
                if project_id.is_empty() && service_account.name == "workload" && service_account.namespace.is_none()),
            "{f:?}"
        );
        let e = from_secret_data("acct", &data(&[("region", "cn-north-4"), ("idpId", "k8s")]))
            .expect_err("no ServiceAccount");
        assert!(e.contains("serviceAccountName"), "{e}");
        let e = from_secret_data(
            "acct",
            &data(&[
                ("region", "cn-north-4"),
                ("idpId", "k8s\r\nX-Evil: 1"),
                ("serviceAccountName", "workload"),
            ]),
        )
        .expect_err("a header in the id");
        assert!(e.contains("idpId") && !e.contains("X-Evil"), "{e}");
    }

    #[test]
    fn errors_name_the_key_never_the_value() {
        let e = from_secret_data(
            "acct",
            &data(&[
                ("region", "cn-north-4"),
                ("projectId", "p1"),
                ("accessKey", "AK"),
            ]),
        )
        .expect_err("no SK");
        assert!(e.contains("secretKey"), "{e}");
        let e = from_secret_data(
            "acct",
            &data(&[
                ("region", "evil.com/x"),
                ("projectId", "p1"),
                ("accessKey", "AK"),
                ("secretKey", "S3CR3T"),
            ]),
        )
        .expect_err("region");
        assert!(
            e.contains("region") && !e.contains("evil.com") && !e.contains("S3CR3T"),
            "{e}"
        );
        let e = from_secret_data(
            "acct",
            &data(&[("region", "cn-north-4"), ("projectId", "p1")]),
        )
        .expect_err("no creds");
        assert!(e.contains("accessKey"), "{e}");
        let e = from_secret_data("acct", &data(&[("projectId", "p1")])).expect_err("no region");
        assert!(e.contains("region"), "{e}");
    }

    #[test]
    fn service_account_names() {
        let sa = |ns: Option<&str>, name: &str| {
            Some(ServiceAccountName {
                namespace: ns.map(str::to_string),
                name: name.to_string(),
            })
        };
        let cases = [
            ("workload", sa(None, "workload")),
            ("team-a/workload", sa(Some("team-a"), "workload")),
            (
                "system:serviceaccount:team-a:workload",
                sa(Some("team-a"), "workload"),
            ),
            ("system:serviceaccount:team-a", None),
            ("Workload", None),
            ("a/b/c", None),
            ("", None),
            ("team-a/", None),
        ];
        for (value, want) in cases {
            assert_eq!(ServiceAccountName::parse(value), want, "{value}");
        }
    }
}
