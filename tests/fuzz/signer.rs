//! The AK/SK signer: canonical forms and `prepare_headers`.

use appauth_operator::cloud::signer::{
    DATE_FORMAT, HEADER_CONTENT_SHA256, HEADER_DATE, SigningRequest, canonical_query,
    canonical_request, canonical_uri, prepare_headers, sign, signed_header_names, url_encode,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use sha2::{Digest, Sha256};

use crate::runner::fuzz;
use crate::strategies::{ODD, flip_case, re};

/// Text with anything in it: unicode, controls, separators, escapes.
fn wild() -> BoxedStrategy<String> {
    prop_oneof![
        2 => re("\\PC{0,12}"),
        2 => vec(any::<char>(), 0..12).prop_map(String::from_iter),
        1 => re("[a-z%/=&;: \t\r\n]{0,12}"),
        1 => select(ODD).prop_map(String::from),
    ]
    .boxed()
}

fn header_name() -> BoxedStrategy<String> {
    prop_oneof![
        4 => re("[A-Za-z][A-Za-z0-9-]{0,10}"),
        1 => select(&["Host", "Content-Type", "X-Project-Id", "X-Sdk-Content-Sha256", "X_Under"][..]).prop_map(String::from),
        1 => wild(),
    ]
    .boxed()
}

#[derive(Clone, Debug)]
struct SignCase {
    method: String,
    /// The path as the signer must see it; sent percent-encoded (and raw when that is the same).
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    ak: String,
    sk: Vec<u8>,
    shuffle: u64,
    flips: u64,
    pads: Vec<(u8, u8)>,
    unsigned: (String, String),
}

fn sign_cases() -> impl Strategy<Value = SignCase> {
    let path = prop_oneof![
        2 => re("(/[a-zA-Z0-9._~-]{0,6}){0,5}/?"),
        2 => wild(),
        1 => re("(/\\PC{0,6}){0,4}"),
        1 => re("(%[0-9a-fA-Fz]{0,2}|/|[a-z ]){0,16}"),
    ];
    let headers = vec((header_name(), wild()), 0..6).prop_map(|mut h| {
        let mut seen = std::collections::HashSet::new();
        h.retain(|(k, _)| seen.insert(k.to_ascii_lowercase()));
        h
    });
    let date = prop_oneof![
        3 => re("[0-9]{8}T[0-9]{6}Z").prop_map(Some),
        1 => Just(None),
    ];
    (
        (
            prop_oneof![re("[A-Za-z]{1,7}"), wild()],
            path,
            vec((wild(), wild()), 0..6),
            headers,
            date,
        ),
        (
            prop_oneof![2 => Just(Vec::new()), 3 => vec(any::<u8>(), 1..64)],
            re("[A-Za-z0-9]{0,20}"),
            vec(any::<u8>(), 0..80),
            any::<u64>(),
            any::<u64>(),
            vec((0u8..4, 0u8..4), 8),
            (re("[A-Za-z]{1,5}_[A-Za-z_]{0,5}"), wild()),
        ),
    )
        .prop_map(
            |(
                (method, path, query, mut headers, date),
                (body, ak, sk, shuffle, flips, pads, unsigned),
            )| {
                if let Some(date) = date
                    && !headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case(HEADER_DATE))
                {
                    let at = (shuffle as usize) % (headers.len() + 1);
                    headers.insert(at, (HEADER_DATE.to_string(), date));
                }
                SignCase {
                    method,
                    path,
                    query,
                    headers,
                    body,
                    ak,
                    sk,
                    shuffle,
                    flips,
                    pads,
                    unsigned,
                }
            },
        )
}

/// A deterministic permutation.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    let mut x = seed | 1;
    for i in (1..out.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.swap(i, (x % (i as u64 + 1)) as usize);
    }
    out
}

fn encode_path(path: &str) -> String {
    path.split('/')
        .map(url_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// `%2F` -> `%2f` for the escapes the flip bits pick: the same bytes once decoded.
fn lower_escapes(path: &str, bits: u64) -> String {
    let mut out = String::with_capacity(path.len());
    let mut escape = 0;
    for (i, c) in path.chars().enumerate() {
        if c == '%' {
            escape = 2;
            out.push(c);
        } else if escape > 0 {
            escape -= 1;
            out.push(if bits >> (i % 64) & 1 == 1 {
                c.to_ascii_lowercase()
            } else {
                c
            });
        } else {
            out.push(c);
        }
    }
    out
}

const PADS: [&str; 4] = ["", " ", "\t", " \t "];

fn payload_hash(headers: &[(String, String)], body: &[u8]) -> String {
    if body.is_empty() {
        return hex::encode(Sha256::digest(b""));
    }
    match headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(HEADER_CONTENT_SHA256))
    {
        Some((_, v)) => v.clone(),
        None => hex::encode(Sha256::digest(body)),
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .expect("canonical forms encode UTF-8")
        .into_owned()
}

/// The `signer_canonical` target.
pub fn canonical() {
    fuzz("signer_canonical", sign_cases(), |c| {
        let path = encode_path(&c.path);
        let req = SigningRequest {
            method: &c.method,
            path: &path,
            query: &c.query,
            headers: &c.headers,
            body: &c.body,
        };
        let signed = signed_header_names(&c.headers);
        let canonical = canonical_request(&req, &signed);
        prop_assert_eq!(&canonical, &canonical_request(&req, &signed));
        let sig = sign(&req, &c.ak, &c.sk);
        prop_assert_eq!(&sig, &sign(&req, &c.ak, &c.sk));
        prop_assert_eq!(&sig.canonical_request, &canonical);

        // The same request, written differently.
        let method2 = flip_case(&c.method, c.flips);
        let path2 = if c.flips & 1 == 0 && !c.path.contains('%') {
            c.path.clone()
        } else {
            lower_escapes(&path, c.flips.rotate_left(7))
        };
        let query2 = shuffled(&c.query, c.shuffle);
        let mut headers2: Vec<(String, String)> = c
            .headers
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                let verbatim = k.eq_ignore_ascii_case(HEADER_DATE)
                    || k.eq_ignore_ascii_case(HEADER_CONTENT_SHA256);
                let (a, b) = c.pads[i % c.pads.len()];
                let v = if verbatim {
                    v.clone()
                } else {
                    format!("{}{v}{}", PADS[a as usize], PADS[b as usize])
                };
                (flip_case(k, c.flips.rotate_left(i as u32)), v)
            })
            .collect();
        headers2 = shuffled(&headers2, c.shuffle.rotate_left(17));
        let at = (c.shuffle as usize) % (headers2.len() + 1);
        headers2.insert(at, c.unsigned.clone());
        let req2 = SigningRequest {
            method: &method2,
            path: &path2,
            query: &query2,
            headers: &headers2,
            body: &c.body,
        };
        prop_assert_eq!(canonical_query(&query2), canonical_query(&c.query));
        prop_assert_eq!(canonical_uri(&path2), canonical_uri(&path));
        prop_assert_eq!(signed_header_names(&headers2), signed.clone());
        prop_assert_eq!(
            &sign(&req2, &c.ak, &c.sk),
            &sig,
            "equivalent requests sign differently"
        );

        // Another key, another signature.
        let mut other = c.sk.clone();
        other.push(b'x');
        prop_assert_ne!(
            sign(&req, &c.ak, &other).authorization,
            sig.authorization.clone()
        );

        // Signed headers: sorted, unique, lower case, no underscore, each one sent.
        prop_assert!(signed.windows(2).all(|w| w[0] < w[1]), "{signed:?}");
        for name in &signed {
            prop_assert!(!name.contains('_') && !name.chars().any(|c| c.is_ascii_uppercase()));
            let value = c.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
            let value = value.map(|(_, v)| v.trim()).unwrap_or_default();
            let line = format!("\n{name}:{value}\n");
            prop_assert!(canonical.contains(&line), "no {line:?} in {canonical:?}");
        }
        for (k, _) in &c.headers {
            prop_assert_eq!(!k.contains('_'), signed.contains(&k.to_ascii_lowercase()));
        }

        // Structure.
        let uri = canonical_uri(&path);
        let query = canonical_query(&c.query);
        let head = format!("{}\n{uri}\n{query}\n", c.method.to_ascii_uppercase());
        let tail = format!(
            "\n{}\n{}",
            signed.join(";"),
            payload_hash(&c.headers, &c.body)
        );
        prop_assert!(
            canonical.starts_with(&head),
            "{canonical:?} does not start with {head:?}"
        );
        prop_assert!(
            canonical.ends_with(&tail),
            "{canonical:?} does not end with {tail:?}"
        );
        let prefix = format!(
            "SDK-HMAC-SHA256 Access={}, SignedHeaders={}, Signature=",
            c.ak,
            signed.join(";")
        );
        let hexsig = sig.authorization.strip_prefix(&prefix);
        prop_assert!(
            hexsig.is_some_and(|s| s.len() == 64
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))),
            "{}",
            sig.authorization
        );

        // Round trips.
        let unreserved = |ch: char| ch.is_ascii_alphanumeric() || "-_.~%".contains(ch);
        prop_assert!(uri.chars().all(|ch| unreserved(ch) || ch == '/'), "{uri}");
        let mut want_path = c.path.clone();
        if !want_path.ends_with('/') {
            want_path.push('/');
        }
        prop_assert_eq!(decode(&uri), want_path);
        prop_assert!(
            query
                .chars()
                .all(|ch| unreserved(ch) || ch == '=' || ch == '&')
        );
        let mut sorted = c.query.clone();
        sorted.sort();
        let back: Vec<(String, String)> = if query.is_empty() {
            Vec::new()
        } else {
            query
                .split('&')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').expect("k=v");
                    (decode(k), decode(v))
                })
                .collect()
        };
        prop_assert_eq!(back, sorted);
        Ok(())
    });
}

#[derive(Clone, Debug)]
struct PrepareCase {
    headers: Vec<(String, String)>,
    host: String,
    now: i64,
}

/// The `signer_prepare_headers` target.
pub fn prepare() {
    let name = prop_oneof![
        3 => select(&["Content-Type", "content-type", "X-Sdk-Date", "x-sdk-date", "Host", "HOST", "X-Sdk-Content-Sha256", "X_Sdk_Date"][..]).prop_map(String::from),
        1 => header_name(),
    ];
    let value = prop_oneof![
        2 => select(&["application/json", "application/json; charset=utf-8", "application/bson", "text/plain", "Application/JSON", " application/json", ""][..]).prop_map(String::from),
        1 => wild(),
    ];
    let cases = (vec((name, value), 0..5), wild(), 0i64..253_402_300_800)
        .prop_map(|(headers, host, now)| PrepareCase { headers, host, now });
    fuzz("signer_prepare_headers", cases, |c| {
        let now = chrono::DateTime::from_timestamp(c.now, 0).expect("in range");
        let mut headers = c.headers.clone();
        prepare_headers(&mut headers, &c.host, now);
        prop_assert_eq!(
            &headers[..c.headers.len()],
            &c.headers[..],
            "existing headers changed"
        );
        let added = &headers[c.headers.len()..];
        let first = |name: &str| c.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
        let mut want = Vec::new();
        if let Some((_, ct)) = first("Content-Type")
            && !ct.starts_with("application/json")
            && !ct.starts_with("application/bson")
            && first(HEADER_CONTENT_SHA256).is_none()
        {
            want.push((
                HEADER_CONTENT_SHA256.to_string(),
                "UNSIGNED-PAYLOAD".to_string(),
            ));
        }
        if first(HEADER_DATE).is_none() {
            want.push((HEADER_DATE.to_string(), now.format(DATE_FORMAT).to_string()));
        }
        if first("Host").is_none() {
            want.push(("Host".to_string(), c.host.clone()));
        }
        prop_assert_eq!(added, &want[..]);
        if let Some((_, date)) = added.iter().find(|(k, _)| k == HEADER_DATE) {
            let back = chrono::NaiveDateTime::parse_from_str(date, DATE_FORMAT)
                .map_err(|e| TestCaseError::fail(format!("{date:?}: {e}")))?;
            prop_assert_eq!(back.and_utc(), now);
        }
        // Again: no second date, host or payload hash.
        let mut twice = headers.clone();
        prepare_headers(&mut twice, "other.example", now);
        let count = |h: &[(String, String)], name: &str| {
            h.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .count()
        };
        prop_assert_eq!(count(&twice, HEADER_DATE), count(&headers, HEADER_DATE));
        prop_assert_eq!(count(&twice, "Host"), count(&headers, "Host"));
        prop_assert_eq!(
            count(&twice, HEADER_CONTENT_SHA256),
            count(&headers, HEADER_CONTENT_SHA256)
        );
        // What prepare adds is signed.
        let signed = signed_header_names(&headers);
        prop_assert!(
            signed.iter().any(|n| n == "host") && signed.iter().any(|n| n == "x-sdk-date")
        );
        Ok(())
    });
}
