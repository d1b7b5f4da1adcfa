//! After a burst, with the operator idle: apply -> Secret latency one object at a time, then
//! one resync period with nothing changed (which must write nothing).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use appauth_operator::api::GatewayApp;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};

use crate::bench::cluster::{apiserver_writes, gateway_app, reconciles, sim_counts};
use crate::bench::prom::{moved, operator_requests_delta};
use crate::bench::report::{Row, percentile, row};
use crate::bench::scale::{Quiet, pages};

/// The burst these follow: its namespace, simulator and operator.
pub struct Idle<'a> {
    pub client: &'a Client,
    pub apps: &'a Api<GatewayApp>,
    pub ns: &'a str,
    pub http: &'a reqwest::Client,
    pub sim: &'a str,
    /// The operator's metrics address.
    pub metrics: &'a str,
    /// Apps of the burst.
    pub n: usize,
    pub tag: &'a str,
    pub resync_secs: u64,
}

/// Objects created one at a time by [`latency`].
const IDLE_OBJECTS: usize = 60;

/// p50 and p99 from the create call returning to the Secret being readable.
pub async fn latency(run: &Idle<'_>, rows: &mut Vec<Row>) -> Result<()> {
    let Idle {
        client,
        apps,
        ns,
        http,
        metrics,
        tag,
        ..
    } = *run;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut lat = Vec::new();
    for i in 0..IDLE_OBJECTS {
        let name = format!("idle-{i}");
        let t = Instant::now();
        apps.create(&PostParams::default(), &gateway_app(&name)?)
            .await?;
        loop {
            if secrets.get_opt(&name).await?.is_some() {
                break;
            }
            if t.elapsed() > Duration::from_secs(30) {
                let status = apps.get(&name).await.ok().map(|a| a.status);
                let counted = reconciles(http, metrics).await.unwrap_or_default();
                bail!(
                    "no Secret for {name} after 30 s; its status: {status:?}; operator: {counted:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    rows.push(row(
        format!("[{tag}] apply -> Secret p50 (idle)"),
        format!("{p50:.0} ms"),
        "< 100 ms",
        Some(100.0 / p50.max(0.01)),
    ));
    rows.push(row(
        format!("[{tag}] apply -> Secret p99 (idle)"),
        format!("{p99:.0} ms"),
        "< 1000 ms",
        Some(1000.0 / p99.max(0.01)),
    ));
    Ok(())
}

/// Steady state: resync periods with nothing changed. Every request the operator can make on
/// its objects and Secrets (from the apiserver's counters), and the cloud calls (from the
/// simulator's) per object per period.
pub async fn quiet_resync(run: &Idle<'_>, rows: &mut Vec<Row>) -> Result<Quiet> {
    let Idle {
        client,
        http,
        sim,
        metrics,
        n,
        tag,
        resync_secs,
        ..
    } = *run;
    // Every object's first drift check after its create falls before the window.
    tokio::time::sleep(Duration::from_secs(resync_secs + resync_secs / 10 + 2)).await;
    http.delete(format!("{sim}/_sim/counts")).send().await?;
    let quiet_before = apiserver_writes(client).await?;
    let failed_before = reconciles(http, metrics)
        .await
        .map(|r| r.failed)
        .unwrap_or_default();
    let periods = 2;
    tokio::time::sleep(Duration::from_secs(periods * resync_secs)).await;
    let quiet_after = apiserver_writes(client).await?;
    let failed_after = reconciles(http, metrics)
        .await
        .map(|r| r.failed)
        .unwrap_or_default();
    let counts = sim_counts(http, sim).await?;
    let objects = n + IDLE_OBJECTS;
    let count = |op: &str| counts.get(op).copied().unwrap_or(0) as f64;
    let per_period = |calls: f64| calls / periods as f64;
    let calls = count("apig.show") + count("apig.list");
    let per_object = per_period(calls) / objects as f64;
    let quiet = Quiet {
        objects,
        listings: per_period(count("apig.list")) / pages(objects as f64),
    };
    let cloud_writes: u64 = counts
        .iter()
        .filter(|(k, _)| !k.ends_with(".show") && !k.ends_with(".list"))
        .map(|(_, v)| *v)
        .sum();
    let requests = operator_requests_delta(&quiet_before, &quiet_after);
    rows.push(row(
        format!("[{tag}] quiet resync ({periods} periods): apiserver requests on GatewayApps, Secrets, Events"),
        quiet_requests(&requests, &failed_before, &failed_after),
        "0",
        None,
    ));
    rows.push(row(
        format!("[{tag}] quiet resync: cloud writes"),
        format!("{cloud_writes}"),
        "0",
        None,
    ));
    rows.push(row(
        format!("[{tag}] quiet resync: cloud calls per object per period"),
        format!(
            "{per_object:.4} (list {:.1}, show {:.1} per period)",
            per_period(count("apig.list")),
            per_period(count("apig.show"))
        ),
        "<= 0.05",
        Some(0.05 / per_object.max(0.0001)),
    ));
    Ok(quiet)
}

/// The quiet resync's request count and, when it is not 0, what they were and the reconciles
/// that failed meanwhile (by reason): "0", or "4 (APPLY gatewayapps/status 2, POST events 2;
/// failed CloudUnavailable 2)".
fn quiet_requests(
    requests: &BTreeMap<String, f64>,
    failed_before: &BTreeMap<String, f64>,
    failed_after: &BTreeMap<String, f64>,
) -> String {
    let total: f64 = requests.values().sum();
    if total == 0.0 {
        return "0".into();
    }
    let by_kind: Vec<String> = requests.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let failed: Vec<String> = moved(failed_before, failed_after)
        .iter()
        .map(|(k, d)| format!("{k} {d}"))
        .collect();
    let failed = if failed.is_empty() {
        "none".to_string()
    } else {
        failed.join(", ")
    };
    format!("{total} ({}; failed {failed})", by_kind.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::prom::counters as map;

    #[test]
    fn quiet_request_rows() {
        let none = map(&[]);
        for (requests, before, after, want) in [
            (
                map(&[]),
                map(&[("CloudUnavailable", 3.0)]),
                map(&[("CloudUnavailable", 5.0)]),
                "0",
            ),
            (
                map(&[("APPLY gatewayapps/status", 2.0), ("POST events", 2.0)]),
                map(&[("CloudUnavailable", 3.0)]),
                map(&[("CloudUnavailable", 5.0), ("InvalidSpec", 1.0)]),
                "4 (APPLY gatewayapps/status 2, POST events 2; failed CloudUnavailable 2, InvalidSpec 1)",
            ),
            (
                map(&[("POST events", 1.0)]),
                none.clone(),
                none,
                "1 (POST events 1; failed none)",
            ),
        ] {
            assert_eq!(quiet_requests(&requests, &before, &after), want);
        }
    }
}
