//! Generators: arbitrary bytes, arbitrary JSON, valid answers (changed by `mutations`), whole
//! payloads and statuses.

use std::collections::HashMap;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

use crate::codes::known_codes;
use crate::mutations::{apply_edits, edit, mutate, mutation};
use crate::oracle::{FIELD_NAMES, Ty, default_of};
use crate::runner::{MARK, NAME};
use crate::server::Payload;

/// A regex strategy compiled once (a `&str` strategy compiles its regex for every case).
pub fn re(pattern: &str) -> BoxedStrategy<String> {
    thread_local! {
        static COMPILED: std::cell::RefCell<HashMap<String, BoxedStrategy<String>>> =
            std::cell::RefCell::new(HashMap::new());
    }
    COMPILED.with(|c| {
        c.borrow_mut()
            .entry(pattern.to_string())
            .or_insert_with(|| {
                proptest::string::string_regex(pattern)
                    .unwrap_or_else(|e| panic!("{pattern}: {e}"))
                    .boxed()
            })
            .clone()
    })
}

pub const ODD: &[&str] = &[
    "",
    " ",
    "null",
    "true",
    "0",
    "-1",
    "\"",
    "\\",
    "\\u0000",
    "\u{0}",
    "\u{7f}",
    "\u{85}",
    "\u{feff}",
    "\u{202e}",
    "\u{fffd}",
    "%00",
    "%zz",
    "%2F",
    ".",
    "..",
    "../..",
    "*",
    "***",
    "APIG.3004",
    "DLM.4063",
    "ROMA.00100404",
    "{}",
    "[]",
    NAME,
    "FUZZ-APP",
    "fuzz-app ",
];

pub fn text() -> BoxedStrategy<String> {
    prop_oneof![
        6 => re("[a-zA-Z0-9_.-]{0,12}"),
        3 => re("\\PC{0,16}"),
        2 => vec(any::<char>(), 0..16).prop_map(String::from_iter),
        2 => select(ODD).prop_map(String::from),
        1 => (select(&['a', 'é', '中', '𝕊', ' ', '\u{0}', '"', '\\', '*'][..]), 200usize..70_000)
            .prop_map(|(c, n)| c.to_string().repeat(n)),
    ]
    .boxed()
}

fn secret() -> BoxedStrategy<String> {
    prop_oneof![
        3 => re("[A-Za-z0-9]{8,16}"),
        1 => re("[A-Za-z0-9]{2}\\*{3,8}[A-Za-z0-9]{2}"),
    ]
    .prop_map(|s| format!("{MARK}{s}"))
    .boxed()
}

fn time_text() -> BoxedStrategy<String> {
    use chrono::{FixedOffset, SecondsFormat};
    let now = chrono::Utc::now().timestamp();
    let stamp = prop_oneof![
        3 => (-3 * 86_400i64..3 * 86_400).prop_map(move |d| now + d),
        1 => 0i64..4_102_444_800,
    ];
    prop_oneof![
        4 => (stamp, 0u32..1_000_000_000, -14 * 60i32..=14 * 60, any::<bool>(), any::<bool>())
            .prop_map(|(secs, nanos, offset_min, z, fraction)| {
                let t = chrono::DateTime::from_timestamp(secs, if fraction { nanos } else { 0 })
                    .expect("in range");
                let offset = FixedOffset::east_opt(offset_min * 60).expect("in range");
                t.with_timezone(&offset).to_rfc3339_opts(SecondsFormat::AutoSi, z)
            }),
        1 => select(&["2020-13-45T25:61:61Z", "2024-02-30T00:00:00Z", "2024-01-01", "2024-01-01T00:00:00", "9999-12-31T23:59:60Z", "+20000-01-01T00:00:00Z"][..]).prop_map(String::from),
        1 => text(),
    ]
    .boxed()
}

fn int() -> BoxedStrategy<i64> {
    prop_oneof![
        3 => -3i64..30,
        1 => any::<i64>(),
        1 => select(&[i64::MIN, i64::MAX, 0][..]),
    ]
    .boxed()
}

pub fn any_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        int().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

pub fn key() -> BoxedStrategy<String> {
    prop_oneof![3 => select(FIELD_NAMES).prop_map(String::from), 1 => text()].boxed()
}

/// A value of the wrong type (or an odd one of the right type) for any field. No secrets.
pub fn wrong() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => any_json(),
        1 => select(vec![
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1.5),
            json!(-0.0),
            json!(1e300),
            json!(""),
            json!({}),
            json!([]),
            json!("true"),
            json!("12"),
            json!([null]),
        ]),
    ]
    .boxed()
}

/// A valid value of `ty`; objects sometimes in serde's positional (array) form.
pub fn valid(ty: &'static Ty) -> BoxedStrategy<Value> {
    match ty {
        Ty::Str => text().prop_map(Value::String).boxed(),
        Ty::Id => prop_oneof![8 => re("[a-z0-9-]{1,36}"), 2 => text(), 1 => select(&["", " ", "\t"][..]).prop_map(String::from)]
            .prop_map(Value::String)
            .boxed(),
        Ty::Name => prop_oneof![2 => Just(NAME.to_string()), 1 => text()]
            .prop_map(Value::String)
            .boxed(),
        Ty::Secret => secret().prop_map(Value::String).boxed(),
        Ty::Time => time_text().prop_map(Value::String).boxed(),
        Ty::Code => prop_oneof![2 => select(known_codes()), 1 => text()]
            .prop_map(Value::String)
            .boxed(),
        Ty::I64 => int().prop_map(Value::from).boxed(),
        Ty::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Ty::Opt(inner) => prop_oneof![1 => Just(Value::Null), 3 => valid(inner)].boxed(),
        Ty::List(inner) => vec(valid(inner), 0..4).prop_map(Value::Array).boxed(),
        Ty::Obj(fields) => {
            let members: Vec<BoxedStrategy<Option<Value>>> = fields
                .iter()
                .map(|f| {
                    if f.default {
                        prop_oneof![1 => Just(None), 4 => valid(&f.ty).prop_map(Some)].boxed()
                    } else {
                        valid(&f.ty).prop_map(Some).boxed()
                    }
                })
                .collect();
            (members, any::<u8>())
                .prop_map(move |(values, form)| {
                    if form < 20 {
                        let required = fields.iter().rposition(|f| !f.default).map_or(0, |i| i + 1);
                        let keep = required + form as usize % (fields.len() - required + 1);
                        Value::Array(
                            fields
                                .iter()
                                .zip(values)
                                .take(keep)
                                .map(|(f, v)| v.unwrap_or_else(|| default_of(&f.ty)))
                                .collect(),
                        )
                    } else {
                        Value::Object(
                            fields
                                .iter()
                                .zip(values)
                                .filter_map(|(f, v)| v.map(|v| (f.name.to_string(), v)))
                                .collect(),
                        )
                    }
                })
                .boxed()
        }
    }
}

pub const SOUP: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"id\"",
    "\"name\"",
    "\"apps\"",
    "\"app\"",
    "\"app_codes\"",
    "\"app_secret\"",
    "\"secret\"",
    "\"token\"",
    "\"expires_at\"",
    "\"error_code\"",
    "\"error_msg\"",
    "\"total\"",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "-0",
    "1.5",
    "18446744073709551616",
    "\"x\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\",
    " ",
    "\n",
];

/// Any payload, with `ty` as the shape of the valid ones.
pub fn payload(ty: &'static Ty) -> BoxedStrategy<Payload> {
    prop_oneof![
        1 => vec(any::<u8>(), 0..300).prop_map(|b| Payload::raw("bytes", b)),
        1 => vec(select(SOUP), 0..40).prop_map(|t| Payload::raw("soup", t.concat().into_bytes())),
        2 => any_json().prop_map(|v| Payload::json("json", v)),
        2 => valid(ty).prop_map(|v| Payload::json("valid", v)),
        5 => (valid(ty), vec(mutation(), 1..4))
            .prop_map(|(v, ms)| Payload::json("mutated", mutate(v, &ms))),
        2 => (valid(ty), vec(edit(), 1..4)).prop_map(|(v, es)| {
            let bytes = serde_json::to_vec(&v).expect("serialises");
            Payload::raw("edited", apply_edits(bytes, &es))
        }),
    ]
    .boxed()
}

pub fn success_or_error_status() -> BoxedStrategy<u16> {
    prop_oneof![
        8 => Just(200u16),
        1 => Just(201u16),
        1 => Just(202u16),
        2 => error_status(),
    ]
    .boxed()
}

pub fn error_status() -> BoxedStrategy<u16> {
    prop_oneof![
        3 => select(&[400u16, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504][..]),
        1 => (300u16..600).prop_filter("304 carries no body", |s| *s != 304),
    ]
    .boxed()
}

/// `s` with the case of the ASCII letters the bits pick flipped.
pub fn flip_case(s: &str, bits: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if bits >> (i % 64) & 1 == 1 {
                if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            } else {
                c
            }
        })
        .collect()
}
