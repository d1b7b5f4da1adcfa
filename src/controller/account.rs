//! Which cloud account an object uses: its `accountRef` Secret (same namespace only, never
//! merged with the default) or the operator's default account.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;

use crate::cloud::endpoints::valid_region;
use crate::cloud::{Account, Credentials, SecretString};

/// Builds an account from an accountRef Secret's data. Errors name the missing or bad key and
/// never echo a value.
pub fn from_secret_data(
    name: &str,
    data: &BTreeMap<String, ByteString>,
) -> Result<Account, String> {
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
    let project_id = require("projectId")?;
    if project_id.len() > 64
        || !project_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(format!(
            "account Secret {name}: projectId must be up to 64 letters, digits or -"
        ));
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
                "account Secret {name} needs accessKey and secretKey, or iamDomain, iamUser and iamPassword"
            ));
        }
    };
    Ok(Account {
        region,
        project_id,
        credentials,
    })
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
        assert!(matches!(a.credentials, Credentials::AkSk { .. }));
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
        assert!(matches!(p.credentials, Credentials::Password { .. }));
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
}
