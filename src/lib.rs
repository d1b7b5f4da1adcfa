//! appauth-operator: provisions Huawei Cloud API-gateway apps and ModelArts inference APIs from
//! custom resources and delivers the credentials into Kubernetes Secrets.

pub mod api;
pub mod backend;
pub mod cloud;
pub mod controller;
pub mod crdgen;
pub mod default_account;
pub mod kube_client;
pub mod kube_metrics;
pub mod naming;
pub mod policy;
pub mod process_metrics;
pub mod run;

/// Test-only crash points (SPEC §9): with the `failpoints` feature, the process exits at once
/// when `APPAUTH_FAILPOINT` names the point it reaches (like a kill -9 there).
#[cfg(feature = "failpoints")]
pub fn failpoint(name: &str) {
    if std::env::var("APPAUTH_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}: exiting");
        std::process::exit(86);
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn failpoint(_name: &str) {}
/// Test-only: with the `failpoints` feature, `APPAUTH_SECRET_WATCH_LAG_MS` delays each event
/// of the operator's own Secrets watch, as a watch that lags behind the objects' does under load.
#[cfg(feature = "failpoints")]
pub fn secret_watch_lag() -> Option<std::time::Duration> {
    std::env::var("APPAUTH_SECRET_WATCH_LAG_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(std::time::Duration::from_millis)
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn secret_watch_lag() -> Option<std::time::Duration> {
    None
}

pub mod leader;
pub mod metrics;
