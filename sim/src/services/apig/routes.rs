//! APIG request types: the app and AppCode operations and the paths that select them.

use http::Method;

use crate::error::ErrorStyle;
use crate::services::{Route, Target};
use crate::state::Svc;

pub enum Op {
    Create,
    List,
    Show(String),
    Validate(String),
    Update(String),
    Delete(String),
    ResetSecret(String),
    AppCodes(String, CodeOp),
}

/// AppCode operations, shared with ROMA's APIC view.
pub enum CodeOp {
    Create,
    Generate,
    List,
    Show(String),
    Delete(String),
}

impl CodeOp {
    pub fn route(method: &Method, rest: &[&str]) -> Option<(CodeOp, &'static str)> {
        Some(match (method, rest) {
            (&Method::POST, []) => (CodeOp::Create, "create_app_code"),
            (&Method::PUT, []) => (CodeOp::Generate, "generate_app_code"),
            (&Method::GET, []) => (CodeOp::List, "list_app_codes"),
            (&Method::GET, [id]) => (CodeOp::Show(id.to_string()), "show_app_code"),
            (&Method::DELETE, [id]) => (CodeOp::Delete(id.to_string()), "delete_app_code"),
            _ => return None,
        })
    }
}

pub fn route(method: &Method, segs: &[&str]) -> Option<Route> {
    let [
        "v2",
        project,
        "apigw",
        "instances",
        instance,
        "apps",
        rest @ ..,
    ] = segs
    else {
        return None;
    };
    let s = |v: &str| v.to_string();
    let (op, name) = match (method, rest) {
        (&Method::POST, []) => (Op::Create, "create"),
        (&Method::GET, []) => (Op::List, "list"),
        (&Method::GET, ["validation", id]) => (Op::Validate(s(id)), "validate"),
        (&Method::PUT, ["secret", id]) => (Op::ResetSecret(s(id)), "reset_secret"),
        (&Method::GET, [id]) => (Op::Show(s(id)), "show"),
        (&Method::PUT, [id]) => (Op::Update(s(id)), "update"),
        (&Method::DELETE, [id]) => (Op::Delete(s(id)), "delete"),
        (_, [id, "app-codes", tail @ ..]) => {
            let (code_op, name) = CodeOp::route(method, tail)?;
            (Op::AppCodes(s(id), code_op), name)
        }
        _ => return None,
    };
    Some(Route::new(
        Svc::Apig,
        name,
        ErrorStyle::Plain,
        Some(project),
        Target::Apig(instance.to_string(), op),
    ))
}
