//! The project's cloud client pointed at a simulator, for tests that change the cloud behind
//! the operator's back.

use appauth_operator::cloud::{
    Account, Cloud, CloudClient, CloudConfig, Credentials, SecretString, Service,
};

use super::operator::{AK, PROJECT, REGION, SK};

/// An APIG app on instance gw1 made behind the operator's back (in the console, say).
pub async fn console_app(
    sim_url: &str,
    name: &str,
    remark: &str,
) -> appauth_operator::cloud::apig::ApigApp {
    client(sim_url)
        .apig("gw1")
        .create(&appauth_operator::cloud::apig::AppInput {
            name,
            remark: Some(remark),
            app_key: None,
            app_secret: None,
        })
        .await
        .expect("console app")
}

pub fn client(sim_url: &str) -> CloudClient {
    client_for(sim_url, AK, SK, PROJECT)
}

pub fn client_for(sim_url: &str, ak: &str, sk: &str, project: &str) -> CloudClient {
    let mut config = CloudConfig::default();
    for service in Service::ALL {
        config
            .endpoints
            .add_override(&format!("{service}={sim_url}"))
            .expect("override");
    }
    let cloud = Cloud::new(config, None).expect("cloud");
    cloud.client(&Account {
        region: REGION.into(),
        project_id: project.into(),
        credentials: Credentials::AkSk {
            access_key: ak.into(),
            secret_key: SecretString::from(sk.to_string()),
            security_token: None,
        },
    })
}
