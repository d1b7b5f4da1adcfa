//! Per-object costs from runs of several sizes: memory as a fixed base plus a slope (a
//! least-squares line through the peak RSS at each size), and both memory and drift-read cloud
//! calls extrapolated to 100,000 objects. Pure: the runs hand in what they measured.

use super::report::{Row, row};
use super::{CloudLimits, Mode};

/// The objects the report extrapolates to.
pub const AT: f64 = 100_000.0;
/// Apps per listing page (APIG's largest page).
const PAGE: f64 = 500.0;
/// The operator's default resync period, seconds.
const DEFAULT_RESYNC_SECS: f64 = 600.0;

/// What one burst measured.
#[derive(Clone, Debug)]
pub struct Measured {
    pub n: usize,
    pub latency_ms: u64,
    pub mode: Mode,
    pub cloud: CloudLimits,
    pub rss_mib: f64,
    /// RSS once the burst's work has settled (runs with the idle phase only).
    pub rest_mib: Option<f64>,
    pub quiet: Option<Quiet>,
}

/// What a quiet resync measured.
#[derive(Clone, Debug)]
pub struct Quiet {
    /// Objects on the one instance.
    pub objects: usize,
    /// Listings of the instance per resync period (list calls over pages per listing).
    pub listings: f64,
}

/// Least squares through `(x, y)`: `(intercept, slope)`; `None` with fewer than two distinct x.
pub fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if points.len() < 2 || sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let slope = sxy / sxx;
    Some((mean_y - slope * mean_x, slope))
}

/// Pages of one listing of `objects` apps.
pub fn pages(objects: f64) -> f64 {
    (objects / PAGE).ceil().max(1.0)
}

/// Drift-read cloud calls per second at `objects` on one instance, from the listings per
/// resync period measured, at the default resync period.
pub fn cloud_calls_per_sec(listings_per_period: f64, objects: f64) -> f64 {
    listings_per_period * pages(objects) / DEFAULT_RESYNC_SECS
}

/// The per-object rows: memory base and slope from the runs like the first (same latency,
/// mode and cloud limits) at each size, and the extrapolation to 100,000 objects.
pub fn per_object(measured: &[Measured], rows: &mut Vec<Row>) {
    let Some(first) = measured.first() else {
        return;
    };
    let alike: Vec<&Measured> = measured
        .iter()
        .filter(|m| {
            m.latency_ms == first.latency_ms && m.mode == first.mode && m.cloud == first.cloud
        })
        .collect();
    let points: Vec<(f64, f64)> = alike.iter().map(|m| (m.n as f64, m.rss_mib)).collect();
    let sizes: Vec<String> = alike.iter().map(|m| m.n.to_string()).collect();
    if let Some((base, slope)) = fit(&points) {
        let kib = slope * 1024.0;
        rows.push(row(
            format!(
                "memory: fixed base (peak RSS at {} objects)",
                sizes.join(", ")
            ),
            format!("{base:.1} MiB"),
            "-",
            None,
        ));
        rows.push(row(
            "memory: per object (slope of that line)",
            format!("{kib:.2} KiB"),
            "<= 3 KiB",
            Some(3.0 / kib.max(0.001)),
        ));
        rows.push(row(
            "at 100,000 objects: memory (extrapolated)",
            format!("{:.0} MiB", base + slope * AT),
            "-",
            None,
        ));
    }
    // The same line through the RSS at rest, where every run measured it: what a process that
    // did not make the burst (restarted for the idle phase) keeps per object.
    let at_rest: Option<Vec<(f64, f64)>> = alike
        .iter()
        .map(|m| m.rest_mib.map(|r| (m.n as f64, r)))
        .collect();
    if let Some((base, slope)) = at_rest.as_deref().and_then(fit) {
        rows.push(row(
            "memory at rest: fixed base + per object (restarted operator, RSS after the quiet resync)",
            format!("{base:.1} MiB + {:.2} KiB", slope * 1024.0),
            "- (the target is read on the peak)",
            None,
        ));
    }
    let largest = measured
        .iter()
        .filter_map(|m| m.quiet.as_ref())
        .max_by_key(|q| q.objects);
    if let Some(q) = largest {
        let per_sec = cloud_calls_per_sec(q.listings, AT);
        rows.push(row(
            format!(
                "at 100,000 objects on one instance: drift cloud calls/s at the 10 min resync ({:.1} listings per period, measured at {})",
                q.listings, q.objects
            ),
            format!("{per_sec:.2}"),
            "<= 50/s (default budget)",
            Some(50.0 / per_sec.max(0.001)),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Line = Option<(f64, f64)>;
    type Points<'a> = &'a [(f64, f64)];

    #[test]
    fn fits() {
        let cases: [(&str, Points, Line); 4] = [
            (
                "a line",
                &[(0.0, 1.0), (10.0, 21.0), (20.0, 41.0)],
                Some((1.0, 2.0)),
            ),
            (
                "scatter around y = x",
                &[(0.0, 1.0), (1.0, 0.0), (2.0, 3.0), (3.0, 2.0)],
                Some((0.6, 0.6)),
            ),
            ("one point", &[(5.0, 5.0)], None),
            ("one size twice", &[(5.0, 5.0), (5.0, 7.0)], None),
        ];
        for (name, points, want) in cases {
            let got = fit(points);
            match (got, want) {
                (Some((a, b)), Some((wa, wb))) => {
                    assert!(
                        (a - wa).abs() < 1e-9 && (b - wb).abs() < 1e-9,
                        "{name}: {got:?}"
                    )
                }
                _ => assert_eq!(got, want, "{name}"),
            }
        }
    }

    #[test]
    fn memory_at_rest_only_when_every_run_measured_it() {
        let run = |n: usize, peak: f64, rest: Option<f64>| Measured {
            n,
            latency_ms: 0,
            mode: Mode::Burst,
            cloud: CloudLimits::Raised,
            rss_mib: peak,
            rest_mib: rest,
            quiet: None,
        };
        let rest_row = |measured: &[Measured]| {
            let mut rows = Vec::new();
            per_object(measured, &mut rows);
            rows.into_iter()
                .find(|r| r.figure.starts_with("memory at rest"))
                .map(|r| r.value)
        };
        // 20 MiB + 2 KiB per object at rest; the peak is higher and sloped differently.
        let both = [
            run(1_000, 30.0, Some(20.0 + 1_000.0 * 2.0 / 1024.0)),
            run(10_000, 80.0, Some(20.0 + 10_000.0 * 2.0 / 1024.0)),
        ];
        assert_eq!(rest_row(&both).as_deref(), Some("20.0 MiB + 2.00 KiB"));
        let one_missing = [both[0].clone(), run(10_000, 80.0, None)];
        assert_eq!(rest_row(&one_missing), None);
    }

    #[test]
    fn extrapolated_cloud_calls() {
        // Two listings a period of 200 pages each, every 600 s.
        assert!((cloud_calls_per_sec(2.0, 100_000.0) - 400.0 / 600.0).abs() < 1e-9);
        assert_eq!(pages(1.0), 1.0);
        assert_eq!(pages(500.0), 1.0);
        assert_eq!(pages(501.0), 2.0);
    }
}
