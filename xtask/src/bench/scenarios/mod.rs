//! The measurements, one file each: the apiserver's raw write limit, a burst of new apps (with
//! the idle latency and a quiet resync after it), and startup.

mod burst;
mod idle;
mod raw_limit;
mod split;
mod startup;

use std::path::Path;

use kube::Client;

pub use burst::burst;
pub use raw_limit::{raw_limit, raw_mix_limit};
pub use split::split;
pub use startup::startup;

use super::{CloudLimits, Mode, Options};

/// One burst: its size, simulated cloud latency, mode and cloud limits; `idle`: the idle
/// latency and the quiet resync follow it.
pub struct Run {
    pub n: usize,
    pub latency_ms: u64,
    pub mode: Mode,
    pub cloud: CloudLimits,
    pub idle: bool,
    /// The whole mix's limit measured with `n` objects, where `n` is larger than the objects
    /// [`Env::mix_aps`] was measured with.
    pub mix_aps_at_n: Option<f64>,
}

/// What every measurement needs.
pub struct Env<'a> {
    pub client: &'a Client,
    /// The state directory: kubeconfig, and the logs of the processes started.
    pub dir: &'a Path,
    /// The build directory the simulator comes from.
    pub target: &'a Path,
    /// The operator binary measured.
    pub operator: &'a Path,
    pub opts: &'a Options,
    /// The apiserver's apps/s for the whole request mix of a new app in a burst
    /// ([`raw_mix_limit`]).
    pub mix_aps: f64,
}

/// A fresh namespace `ns` and a simulator (logging under `tag`) answering after `latency_ms`,
/// with room for `apps` APIG apps on its instance; its process, URL and an HTTP client.
pub async fn namespace_and_sim(
    env: &Env<'_>,
    ns: &str,
    tag: &str,
    latency_ms: u64,
    apps: usize,
) -> anyhow::Result<(super::procs::Proc, String, reqwest::Client)> {
    super::cluster::namespace(env.client, ns).await?;
    let (proc, sim) = super::procs::start_sim(env.target, env.dir, tag)?;
    let http = reqwest::Client::new();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    http.put(format!("{sim}/_sim/config"))
        // The default APIG quota (10,000 apps per instance) would stop a big run at 10,000.
        .json(&serde_json::json!({"latency_ms": latency_ms, "apig_quota": apps + 1000}))
        .send()
        .await?
        .error_for_status()?;
    Ok((proc, sim, http))
}
