//! Service -> endpoint URL: `https://{host}.{region}.myhuaweicloud.com`, the European site's
//! `.eu` exception, and global overrides (other sites, proxies, the simulator).

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Iam,
    Apig,
    ModelArts,
    DataArts,
    Roma,
}

impl Service {
    pub const ALL: [Service; 5] = [
        Service::Iam,
        Service::Apig,
        Service::ModelArts,
        Service::DataArts,
        Service::Roma,
    ];

    /// The name used on the command line, in metrics and in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iam => "iam",
            Self::Apig => "apig",
            Self::ModelArts => "modelarts",
            Self::DataArts => "dataarts",
            Self::Roma => "roma",
        }
    }

    /// The host label in the endpoint (DataArts Studio is `dayu`).
    pub fn host_label(self) -> &'static str {
        match self {
            Self::DataArts => "dayu",
            other => other.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|svc| svc.as_str() == s)
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Endpoint overrides by service (operator configuration only, never from an accountRef).
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    overrides: HashMap<Service, String>,
}

impl Endpoints {
    /// Parses `SERVICE=URL`; plain `http://` only for loopback addresses.
    pub fn add_override(&mut self, spec: &str) -> Result<(), String> {
        let (service, url) = spec
            .split_once('=')
            .ok_or_else(|| format!("expected SERVICE=URL, got {spec:?}"))?;
        let service = Service::parse(service.trim()).ok_or_else(|| {
            format!("unknown service {service:?}; expected iam, apig, modelarts, dataarts or roma")
        })?;
        let parsed =
            reqwest::Url::parse(url.trim()).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        match parsed.scheme() {
            "https" => {}
            "http" if is_loopback(&parsed) => {}
            "http" => {
                return Err(format!(
                    "plain http is only allowed for loopback addresses, got {url:?}"
                ));
            }
            other => return Err(format!("unsupported scheme {other:?} in {url:?}")),
        }
        self.overrides
            .insert(service, url.trim().trim_end_matches('/').to_string());
        Ok(())
    }

    /// Base URL (no trailing slash) of `service` in `region`.
    pub fn url(&self, service: Service, region: &str) -> String {
        if let Some(url) = self.overrides.get(&service) {
            return url.clone();
        }
        // The European sovereign site (eu-west-101 and siblings) lives under myhuaweicloud.eu.
        let domain = if region.starts_with("eu-west-1") {
            "myhuaweicloud.eu"
        } else {
            "myhuaweicloud.com"
        };
        format!("https://{}.{region}.{domain}", service.host_label())
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Checks an account region: `^[a-z]+(-[a-z0-9]+)+$`.
pub fn valid_region(region: &str) -> bool {
    let mut parts = region.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()));
    let rest: Vec<&str> = parts.collect();
    first_ok
        && !rest.is_empty()
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_table() {
        let e = Endpoints::default();
        assert_eq!(
            e.url(Service::Apig, "cn-north-4"),
            "https://apig.cn-north-4.myhuaweicloud.com"
        );
        assert_eq!(
            e.url(Service::DataArts, "ap-southeast-1"),
            "https://dayu.ap-southeast-1.myhuaweicloud.com"
        );
        assert_eq!(
            e.url(Service::Iam, "eu-west-101"),
            "https://iam.eu-west-101.myhuaweicloud.eu"
        );
        assert_eq!(
            e.url(Service::Roma, "eu-west-0"),
            "https://roma.eu-west-0.myhuaweicloud.com"
        );
    }

    #[test]
    fn overrides() {
        let mut e = Endpoints::default();
        e.add_override("apig=http://127.0.0.1:8787/")
            .expect("loopback http");
        assert_eq!(e.url(Service::Apig, "cn-north-4"), "http://127.0.0.1:8787");
        assert!(e.add_override("apig=http://10.1.2.3:80").is_err());
        assert!(e.add_override("s3=https://x").is_err());
        assert!(e.add_override("roma=https://proxy.example.com").is_ok());
    }

    #[test]
    fn regions() {
        for ok in ["cn-north-4", "eu-west-101", "ap-southeast-1", "la-south-2"] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in [
            "",
            "cn",
            "CN-north-4",
            "cn-north-4.evil.com",
            "cn-",
            "-cn-1",
            "cn_north_4",
            "cn-north-4/x",
        ] {
            assert!(!valid_region(bad), "{bad}");
        }
    }
}
