//! The URL of a request, and the Host its signature covers. Pure.

use reqwest::Url;

use crate::cloud::signer::url_encode;

/// Why a request has no URL. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum UrlError {
    /// The base (endpoint, region) and path make no URL. The parser's text quotes no input.
    #[error("invalid URL: {0}")]
    Unparseable(url::ParseError),
    #[error("invalid URL: a path segment is \".\" or \"..\"")]
    DotSegment,
}

/// `base` + `path` (segments already encoded) + the encoded query.
pub(super) fn build(base: &str, path: &str, query: &[(String, String)]) -> Result<Url, UrlError> {
    let mut url = format!("{base}{path}");
    let query = query
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    let parsed = Url::parse(&url).map_err(UrlError::Unparseable)?;
    // URL parsing resolves "." and ".." segments: an id like ".." would address another
    // resource (`.../apps/..` is the instance). Nothing else in a built path changes.
    if !parsed.path().ends_with(path) {
        return Err(UrlError::DotSegment);
    }
    Ok(parsed)
}

/// The Host header value: host, and the port when the URL names one.
pub(super) fn host(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://apig.cn-north-4.myhuaweicloud.com";

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// (base, path, query, URL or error)
    type Row = (
        &'static str,
        &'static str,
        Vec<(String, String)>,
        Result<&'static str, UrlError>,
    );

    #[test]
    fn builds() {
        let table: [Row; 7] = [
            (
                BASE,
                "/v2/apps",
                q(&[]),
                Ok("https://apig.cn-north-4.myhuaweicloud.com/v2/apps"),
            ),
            (
                BASE,
                "/v2/apps",
                q(&[("name", "a b&c"), ("limit", "5")]),
                Ok("https://apig.cn-north-4.myhuaweicloud.com/v2/apps?name=a%20b%26c&limit=5"),
            ),
            (BASE, "/v2/apps/%2E%2E", q(&[]), Err(UrlError::DotSegment)),
            (BASE, "/v2/apps/..", q(&[]), Err(UrlError::DotSegment)),
            (BASE, "/v2/apps/.", q(&[]), Err(UrlError::DotSegment)),
            (
                BASE,
                "/v2/apps/..x",
                q(&[]),
                Ok("https://apig.cn-north-4.myhuaweicloud.com/v2/apps/..x"),
            ),
            (
                "https://apig.cn north.myhuaweicloud.com",
                "/v2/apps",
                q(&[]),
                Err(UrlError::Unparseable(url::ParseError::IdnaError)),
            ),
        ];
        for (base, path, query, want) in table {
            let got = build(base, path, &query);
            assert_eq!(
                got.as_ref().map(Url::as_str).map_err(Clone::clone),
                want,
                "{base}{path}"
            );
        }
    }

    #[test]
    fn host_carries_an_explicit_port_only() {
        let table = [
            ("https://apig.example.com/x", "apig.example.com"),
            ("https://apig.example.com:443/x", "apig.example.com"),
            ("http://127.0.0.1:8080/x", "127.0.0.1:8080"),
        ];
        for (url, want) in table {
            let url = Url::parse(url).expect("valid");
            assert_eq!(host(&url), want);
        }
    }
}
