//! Classification of error codes by `ErrorCodes`, with overrides, against the expectations of
//! `codes.rs`.

use std::collections::HashMap;

use appauth_operator::cloud::{ErrorCategory, ErrorCodes};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use crate::codes::{EXPECTED, by_status, known_codes, overridable};
use crate::runner::fuzz;
use crate::strategies::{flip_case, re, text};

const CATEGORIES: [ErrorCategory; 11] = [
    ErrorCategory::NotFound,
    ErrorCategory::AlreadyExists,
    ErrorCategory::KeyTaken,
    ErrorCategory::QuotaExceeded,
    ErrorCategory::InvalidInput,
    ErrorCategory::Conflict,
    ErrorCategory::Throttled,
    ErrorCategory::Unauthorized,
    ErrorCategory::Forbidden,
    ErrorCategory::Transient,
    ErrorCategory::Unknown,
];

const CATEGORY_NAMES: [&str; 11] = [
    "NotFound",
    "AlreadyExists",
    "KeyTaken",
    "QuotaExceeded",
    "InvalidInput",
    "Conflict",
    "Throttled",
    "Unauthorized",
    "Forbidden",
    "Transient",
    "Unknown",
];

#[derive(Clone, Debug)]
struct ClassifyCase {
    overrides: Vec<String>,
    status: u16,
    code: String,
}

fn classify_cases() -> impl Strategy<Value = ClassifyCase> {
    let code = prop_oneof![3 => select(known_codes()), 1 => text()];
    let category = prop_oneof![
        3 => (select(&CATEGORY_NAMES[..]), any::<u64>(), re(" ?"), re(" ?"))
            .prop_map(|(n, bits, a, b)| format!("{a}{}{b}", flip_case(n, bits))),
        1 => text(),
    ];
    let spec = prop_oneof![
        4 => (code.clone(), re(" ?"), category).prop_map(|(c, pad, k)| format!("{c}{pad}={k}")),
        1 => text(),
    ];
    (
        vec(spec, 0..5),
        prop_oneof![3 => select(&[0u16, 200, 400, 401, 403, 404, 408, 409, 422, 429, 500, 503, 599, 600][..]), 1 => any::<u16>()],
        code,
    )
        .prop_map(|(overrides, status, code)| ClassifyCase {
            overrides,
            status,
            code,
        })
}

/// The `error_classification` target.
pub fn classification() {
    fuzz("error_classification", classify_cases(), |case| {
        // What each code must mean now: the table's category, then each accepted override.
        let mut model: HashMap<String, ErrorCategory> = EXPECTED
            .iter()
            .map(|(c, k, _)| (c.to_string(), *k))
            .collect();
        let mut codes = ErrorCodes::default();
        for spec in &case.overrides {
            let parsed = spec.split_once('=').and_then(|(c, k)| {
                let i = CATEGORY_NAMES
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(k.trim()))?;
                Some((c.trim(), CATEGORIES[i]))
            });
            let got = codes.set_from_str(spec);
            match parsed {
                None => prop_assert!(got.is_err(), "{:?} accepted", spec),
                Some((code, _)) => {
                    if let Some(want) = overridable(code) {
                        prop_assert_eq!(got.is_ok(), want, "{:?} -> {:?}", spec, got);
                    }
                }
            }
            if let (Ok(()), Some((code, category))) = (&got, parsed) {
                model.insert(code.to_string(), category);
            }
        }
        let mut probes: Vec<&str> = vec![case.code.as_str()];
        probes.extend(model.keys().map(String::as_str));
        for code in probes {
            let want = model
                .get(code)
                .copied()
                .unwrap_or_else(|| by_status(case.status));
            let got = codes.classify(case.status, code);
            prop_assert_eq!(got, want, "classify({}, {:?})", case.status, code);
            prop_assert_eq!(got, codes.classify(case.status, code));
        }
        for (category, name) in CATEGORIES.iter().zip(CATEGORY_NAMES) {
            prop_assert_eq!(category.as_str(), name);
            prop_assert_eq!(category.to_string(), name);
            prop_assert_eq!(ErrorCategory::parse(&name.to_lowercase()), Some(*category));
            prop_assert_eq!(ErrorCategory::parse(&name.to_uppercase()), Some(*category));
            prop_assert_eq!(
                category.is_retryable(),
                matches!(
                    category,
                    ErrorCategory::Throttled | ErrorCategory::Transient
                )
            );
        }
        if let Some(parsed) = ErrorCategory::parse(&case.code) {
            prop_assert!(parsed.as_str().eq_ignore_ascii_case(&case.code));
        }
        Ok(())
    });
}
