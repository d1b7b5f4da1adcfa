//! Per-service token buckets, so that a burst of thousands of objects does not become a
//! throttling storm at the cloud.

use std::collections::HashMap;
use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::endpoints::Service;

/// Requests per second and burst for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    pub const fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self { per_second, burst }
    }

    /// Parses `SERVICE=RPS[/BURST]`.
    pub fn parse_for(spec: &str) -> Result<(Service, Rate), String> {
        let (service, rate) = spec
            .split_once('=')
            .ok_or_else(|| format!("expected SERVICE=RPS[/BURST], got {spec:?}"))?;
        let service =
            Service::parse(service.trim()).ok_or_else(|| format!("unknown service {service:?}"))?;
        let (rps, burst) = match rate.split_once('/') {
            Some((r, b)) => (r, Some(b)),
            None => (rate, None),
        };
        let per_second: NonZeroU32 = rps
            .trim()
            .parse()
            .map_err(|_| format!("invalid rate {rps:?}"))?;
        let burst = match burst {
            Some(b) => b
                .trim()
                .parse()
                .map_err(|_| format!("invalid burst {b:?}"))?,
            None => per_second,
        };
        Ok((service, Rate { per_second, burst }))
    }
}

/// Default: 50 requests/s with a burst of 100 per service (documented in the README).
pub const DEFAULT_RATE: Rate =
    Rate::new(NonZeroU32::new(50).unwrap(), NonZeroU32::new(100).unwrap());

pub struct RateLimiters {
    limiters: HashMap<Service, DefaultDirectRateLimiter>,
    rates: HashMap<Service, Rate>,
}

impl RateLimiters {
    pub fn new(overrides: &HashMap<Service, Rate>) -> Self {
        let mut limiters = HashMap::new();
        let mut rates = HashMap::new();
        for service in Service::ALL {
            let rate = overrides.get(&service).copied().unwrap_or(DEFAULT_RATE);
            let quota = Quota::per_second(rate.per_second).allow_burst(rate.burst);
            limiters.insert(service, RateLimiter::direct(quota));
            rates.insert(service, rate);
        }
        Self { limiters, rates }
    }

    pub async fn acquire(&self, service: Service) {
        if let Some(limiter) = self.limiters.get(&service) {
            limiter.until_ready().await;
        }
    }

    pub fn rate(&self, service: Service) -> Rate {
        self.rates.get(&service).copied().unwrap_or(DEFAULT_RATE)
    }
}

impl std::fmt::Debug for RateLimiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiters")
            .field("rates", &self.rates)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        let (svc, rate) = Rate::parse_for("apig=20/40").expect("valid");
        assert_eq!(svc, Service::Apig);
        assert_eq!((rate.per_second.get(), rate.burst.get()), (20, 40));
        let (_, rate) = Rate::parse_for("roma=5").expect("valid");
        assert_eq!(rate.burst.get(), 5);
        assert!(Rate::parse_for("apig=0").is_err());
        assert!(Rate::parse_for("x=1").is_err());
    }

    #[tokio::test]
    async fn a_burst_beyond_the_bucket_waits() {
        let mut overrides = HashMap::new();
        overrides.insert(
            Service::Apig,
            Rate::new(
                NonZeroU32::new(10).expect("10"),
                NonZeroU32::new(2).expect("2"),
            ),
        );
        let limiters = RateLimiters::new(&overrides);
        let start = std::time::Instant::now();
        for _ in 0..4 {
            limiters.acquire(Service::Apig).await;
        }
        // Two from the burst, then two at 10/s: at least ~150 ms.
        assert!(
            start.elapsed() >= std::time::Duration::from_millis(150),
            "{:?}",
            start.elapsed()
        );
    }
}
