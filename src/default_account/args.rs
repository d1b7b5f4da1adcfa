//! The default account's settings: flags, and the environment variables the official SDKs read.

use std::path::PathBuf;
use std::time::Duration;

/// IAM issues temporary credentials for 15 minutes to 24 hours.
const DURATION_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(900)..=Duration::from_secs(86_400);

#[derive(clap::Args, Debug, Clone, Default)]
pub struct CredentialArgs {
    /// Default account's region.
    #[arg(long, env = "HWCLOUD_REGION")]
    pub region: Option<String>,
    /// Default account's project id (looked up from the region for temporary credentials when
    /// not given).
    #[arg(long, env = "HWCLOUD_PROJECT_ID")]
    pub project_id: Option<String>,
    /// Directory with the default account's credentials as files (accessKey, secretKey,
    /// securityToken, iamDomain, iamUser, iamPassword, region, projectId), mounted from a Secret;
    /// read again at each use.
    #[arg(long, env = "APPAUTH_CREDENTIALS_DIR")]
    pub credentials_dir: Option<PathBuf>,
    /// IAM identity provider that federates the operator's ServiceAccount token (keyless).
    #[arg(long, env = "HUAWEICLOUD_SDK_IDP_ID")]
    pub idp_id: Option<String>,
    /// The projected ServiceAccount token exchanged at the identity provider; read again at
    /// each renewal.
    #[arg(long, env = "HUAWEICLOUD_SDK_ID_TOKEN_FILE", value_name = "PATH")]
    pub id_token_file: Option<PathBuf>,
    /// IAM endpoint (the same as --endpoint iam=URL).
    #[arg(long, env = "HUAWEICLOUD_SDK_IAM_ENDPOINT", value_name = "URL")]
    pub iam_endpoint: Option<String>,
    /// Lifetime asked for temporary credentials from an identity provider (15m to 24h).
    #[arg(long, env = "APPAUTH_CREDENTIAL_DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    pub credential_duration: Duration,
    /// Audience of the tokens requested for namespaces' own ServiceAccounts (accountRef
    /// Secrets with serviceAccountName): the identity provider's client id.
    #[arg(
        long,
        env = "APPAUTH_TOKEN_AUDIENCE",
        default_value = "appauth-operator"
    )]
    pub token_audience: String,
    /// CCE Pod Identity: the agent's credentials URI.
    #[arg(long, env = "HC_CONTAINER_CREDENTIALS_FULL_URI", value_name = "URL")]
    pub pod_identity_uri: Option<String>,
    /// CCE Pod Identity: the Pod's token file.
    #[arg(
        long,
        env = "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        value_name = "PATH"
    )]
    pub pod_identity_token_file: Option<PathBuf>,
    /// Use the ECS metadata service's agency credentials when nothing else is configured. Every
    /// Pod on the node gets the same identity this way: not for shared clusters.
    #[arg(long, env = "APPAUTH_INSTANCE_METADATA", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub instance_metadata: bool,
    /// The ECS metadata service.
    #[arg(
        long,
        env = "APPAUTH_INSTANCE_METADATA_URL",
        default_value = "http://169.254.169.254"
    )]
    pub instance_metadata_url: String,
}

impl CredentialArgs {
    /// Settings that cannot work, found at start (the default account itself may change later).
    pub fn check(&self) -> anyhow::Result<()> {
        if !DURATION_RANGE.contains(&self.credential_duration) {
            anyhow::bail!("--credential-duration must be between 15m and 24h");
        }
        match (&self.idp_id, &self.id_token_file) {
            (Some(_), None) => {
                anyhow::bail!("--idp-id needs --id-token-file (HUAWEICLOUD_SDK_ID_TOKEN_FILE)")
            }
            (None, Some(_)) => {
                anyhow::bail!("--id-token-file needs --idp-id (HUAWEICLOUD_SDK_IDP_ID)")
            }
            _ => {}
        }
        match (&self.pod_identity_uri, &self.pod_identity_token_file) {
            (Some(_), None) => anyhow::bail!(
                "--pod-identity-uri needs --pod-identity-token-file (HC_CONTAINER_AUTHORIZATION_TOKEN_FILE)"
            ),
            (None, Some(_)) => anyhow::bail!(
                "--pod-identity-token-file needs --pod-identity-uri (HC_CONTAINER_CREDENTIALS_FULL_URI)"
            ),
            _ => {}
        }
        Ok(())
    }
}
