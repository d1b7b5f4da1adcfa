//! Changes to valid answers: JSON-level mutations (nodes removed, nulled, replaced, wrapped,
//! padded with junk, secrets reshaped) and byte-level edits.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

use crate::runner::MARK;
use crate::strategies::{any_json, key, wrong};

/// A change to a valid answer. Node numbers are taken modulo the number of nodes (pre-order).
#[derive(Clone, Debug)]
pub enum Mutation {
    Remove(usize),
    Null(usize),
    Replace(usize, Value),
    /// Wrap a node in `depth` arrays (even) or objects (odd).
    Wrap(usize, u8, u16),
    /// Add a member to an object, or an element to an array.
    Junk(usize, String, Value),
    /// Change the shape around a secret: `"s"` -> `["s"]`, `{"value": "s"}`, `[["s"]]`;
    /// `["s", …]` -> `"s"`, `{"items": […]}`, `"s,…"`.
    Reshape(usize, u8),
}

pub fn mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        2 => any::<usize>().prop_map(Mutation::Remove),
        2 => any::<usize>().prop_map(Mutation::Null),
        4 => (any::<usize>(), wrong()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        1 => (any::<usize>(), any::<u8>(), prop_oneof![4 => 1u16..4, 1 => 90u16..200])
            .prop_map(|(i, k, d)| Mutation::Wrap(i, k, d)),
        2 => (any::<usize>(), key(), any_json()).prop_map(|(i, k, v)| Mutation::Junk(i, k, v)),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, how)| Mutation::Reshape(i, how)),
    ]
    .boxed()
}

pub fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(m) => m.values().map(count_nodes).sum(),
        _ => 0,
    }
}

pub fn nth_mut<'a>(v: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
    if *n == 0 {
        return Some(v);
    }
    *n -= 1;
    match v {
        Value::Array(a) => a.iter_mut().find_map(|x| nth_mut(x, n)),
        Value::Object(m) => m.values_mut().find_map(|x| nth_mut(x, n)),
        _ => None,
    }
}

fn is_secret(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.starts_with(MARK))
}

/// Pre-order numbers of the nodes that are a secret or a list holding one.
fn secret_nodes(v: &Value, next: &mut usize, out: &mut Vec<usize>) {
    let me = *next;
    *next += 1;
    if is_secret(v) || v.as_array().is_some_and(|a| a.iter().any(is_secret)) {
        out.push(me);
    }
    match v {
        Value::Array(a) => a.iter().for_each(|x| secret_nodes(x, next, out)),
        Value::Object(m) => m.values().for_each(|x| secret_nodes(x, next, out)),
        _ => {}
    }
}

const TOMBSTONE: &str = "\u{0}fuzz-removed\u{0}";

fn sweep(v: &mut Value) {
    let gone = |x: &Value| x.as_str() == Some(TOMBSTONE);
    match v {
        Value::Array(a) => {
            a.retain(|x| !gone(x));
            a.iter_mut().for_each(sweep);
        }
        Value::Object(m) => {
            m.retain(|_, x| !gone(x));
            m.values_mut().for_each(sweep);
        }
        _ => {}
    }
}

pub fn mutate(mut v: Value, mutations: &[Mutation]) -> Value {
    for m in mutations {
        let nodes = count_nodes(&v);
        let node = |i: &usize| i % nodes;
        match m {
            Mutation::Remove(i) => {
                // The root stays: an empty body is the byte-level generators' business.
                if node(i) != 0
                    && let Some(n) = nth_mut(&mut v, &mut node(i))
                {
                    *n = Value::String(TOMBSTONE.into());
                    sweep(&mut v);
                }
            }
            Mutation::Null(i) => {
                if let Some(n) = nth_mut(&mut v, &mut node(i)) {
                    *n = Value::Null;
                }
            }
            Mutation::Replace(i, with) => {
                if let Some(n) = nth_mut(&mut v, &mut node(i)) {
                    *n = with.clone();
                }
            }
            Mutation::Wrap(i, kind, d) => {
                if let Some(n) = nth_mut(&mut v, &mut node(i)) {
                    let mut x = n.take();
                    for _ in 0..*d {
                        x = if kind % 2 == 0 {
                            json!([x])
                        } else {
                            json!({ "x": x })
                        };
                    }
                    *n = x;
                }
            }
            Mutation::Junk(i, k, junk) => match nth_mut(&mut v, &mut node(i)) {
                Some(Value::Object(members)) => {
                    members.insert(k.clone(), junk.clone());
                }
                Some(Value::Array(items)) => items.push(junk.clone()),
                _ => {}
            },
            Mutation::Reshape(i, how) => {
                let mut found = Vec::new();
                secret_nodes(&v, &mut 0, &mut found);
                if found.is_empty() {
                    continue;
                }
                let mut at = found[i % found.len()];
                let Some(n) = nth_mut(&mut v, &mut at) else {
                    continue;
                };
                let x = n.take();
                *n = match (&x, how % 3) {
                    (Value::String(_), 0) => json!([x]),
                    (Value::String(_), 1) => json!({ "value": x }),
                    (Value::String(_), _) => json!([[x]]),
                    (Value::Array(items), 0) => items
                        .iter()
                        .find(|s| is_secret(s))
                        .cloned()
                        .unwrap_or(Value::Null),
                    (Value::Array(_), 1) => json!({ "items": x }),
                    (Value::Array(items), _) => Value::String(
                        items
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    _ => x,
                };
            }
        }
    }
    v
}

#[derive(Clone, Debug)]
pub enum Edit {
    Truncate(usize),
    Delete(usize),
    Insert(usize, u8),
    Set(usize, u8),
}

pub fn edit() -> BoxedStrategy<Edit> {
    let byte = prop_oneof![
        3 => select(b"{}[]\":,\\ 0123456789-+.eEtrufalsn\x00\x7f".to_vec()),
        1 => any::<u8>(),
    ];
    prop_oneof![
        1 => any::<usize>().prop_map(Edit::Truncate),
        2 => any::<usize>().prop_map(Edit::Delete),
        2 => (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Insert(i, b)),
        2 => (any::<usize>(), byte).prop_map(|(i, b)| Edit::Set(i, b)),
    ]
    .boxed()
}

pub fn apply_edits(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len();
        match *e {
            Edit::Truncate(i) => bytes.truncate(i % (len + 1)),
            Edit::Delete(i) if len > 0 => {
                bytes.remove(i % len);
            }
            Edit::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Edit::Set(i, b) if len > 0 => bytes[i % len] = b,
            _ => {}
        }
    }
    bytes
}
