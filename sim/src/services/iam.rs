//! IAM: password tokens, token validation, project and domain discovery (reference §8).

use chrono::{DateTime, Duration, Utc};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Ctx, Route, Target};
use crate::auth::token::{Token, TokenScope};
use crate::config::Account;
use crate::error::{ApiError, ErrorStyle};
use crate::http::{Reply, Req};
use crate::state::{State, Svc, rfc3339, token_value};

pub enum Op {
    CreateToken,
    ValidateToken,
    Projects,
    Domains,
}

pub fn route(method: &Method, segs: &[&str]) -> Option<Route> {
    let (op, name) = match (method, segs) {
        (&Method::POST, ["v3", "auth", "tokens"]) => (Op::CreateToken, "token"),
        (&Method::GET, ["v3", "auth", "tokens"]) => (Op::ValidateToken, "validate_token"),
        (&Method::GET, ["v3", "projects"]) | (&Method::GET, ["v3", "auth", "projects"]) => {
            (Op::Projects, "projects")
        }
        (&Method::GET, ["v3", "auth", "domains"]) => (Op::Domains, "domains"),
        _ => return None,
    };
    Some(Route::new(
        Svc::Iam,
        name,
        ErrorStyle::Iam,
        None,
        Target::Iam(op),
    ))
}

pub fn execute(
    state: &mut State,
    ctx: Option<&Ctx>,
    op: &Op,
    req: &Req,
    now: DateTime<Utc>,
) -> Result<Reply, ApiError> {
    match (op, ctx) {
        (Op::CreateToken, _) => create_token(state, req, now),
        (Op::ValidateToken, Some(_)) => validate_token(state, req, now),
        (Op::Projects, Some(ctx)) => Ok(projects(ctx, req)),
        (Op::Domains, Some(ctx)) => Ok(domains(ctx)),
        (_, None) => Err(keystone(
            StatusCode::UNAUTHORIZED,
            "Authentication required",
        )),
    }
}

/// A Keystone-style error (no Huawei error code).
pub(crate) fn keystone(status: StatusCode, msg: &str) -> ApiError {
    ApiError::new(status, "", msg)
}

fn bad_request(msg: &str) -> ApiError {
    keystone(StatusCode::BAD_REQUEST, msg)
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn create_token(state: &mut State, req: &Req, now: DateTime<Utc>) -> Result<Reply, ApiError> {
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|_| bad_request("The request body is not valid JSON"))?;
    let identity = body
        .get("auth")
        .and_then(|a| a.get("identity"))
        .ok_or_else(|| bad_request("auth.identity is required"))?;
    let methods: Vec<String> = identity
        .get("methods")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if !methods.iter().any(|m| m == "password") {
        return Err(bad_request(
            "Only the password method is supported by the simulator",
        ));
    }
    let user = identity
        .get("password")
        .and_then(|p| p.get("user"))
        .ok_or_else(|| bad_request("auth.identity.password.user is required"))?;
    let user_name = str_at(user, &["name"]);
    let user_id = str_at(user, &["id"]);
    let password = str_at(user, &["password"]).unwrap_or_default();
    let domain_name = str_at(user, &["domain", "name"]);
    let domain_id = str_at(user, &["domain", "id"]);

    let idx = state
        .config
        .accounts
        .iter()
        .position(|a| {
            let user_ok = match (user_name, user_id) {
                (Some(n), _) => n == a.user,
                (None, Some(id)) => id == a.user_id(),
                _ => false,
            };
            let domain_ok = match (domain_name, domain_id) {
                (Some(n), _) => n == a.domain,
                (None, Some(id)) => id == a.domain_id(),
                (None, None) => user_id.is_some(),
            };
            user_ok && domain_ok && a.password == password
        })
        .ok_or_else(|| {
            keystone(
                StatusCode::UNAUTHORIZED,
                "The username or password is wrong.",
            )
        })?;
    let account = state.config.accounts[idx].clone();

    let scope_value = body.get("auth").and_then(|a| a.get("scope"));
    let scope = resolve_scope(scope_value, &account, TokenScope::Domain)?;

    // Capped at 100 years so that the expiry cannot overflow.
    let ttl = state.config.token_ttl_secs.min(100 * 365 * 86_400) as i64;
    let token = Token {
        account: idx,
        issued: now,
        expires: now
            .checked_add_signed(Duration::seconds(ttl))
            .unwrap_or(now),
        scope,
        federated: None,
    };
    let value = token_value();
    let body = token_body(&account, &token, req.q("nocatalog") == Some("true"));
    state.tokens.insert(value.clone(), token);
    Ok(Reply::json(StatusCode::CREATED, body).with_header("x-subject-token", &value))
}

/// The scope a token request asks for (`auth.scope`): a project of the account by `id` or
/// `name` (= region), or its domain by `id` or `name`; `default` without a scope.
pub(crate) fn resolve_scope(
    scope: Option<&Value>,
    account: &Account,
    default: TokenScope,
) -> Result<TokenScope, ApiError> {
    match scope {
        Some(s) if s.get("project").is_some() => {
            let name = str_at(s, &["project", "name"]);
            let id = str_at(s, &["project", "id"]);
            let ok = match (name, id) {
                (_, Some(id)) => id == account.project_id,
                (Some(name), None) => name == account.region,
                (None, None) => false,
            };
            if !ok {
                return Err(keystone(
                    StatusCode::UNAUTHORIZED,
                    "The project in the scope does not exist or is not accessible",
                ));
            }
            Ok(TokenScope::Project)
        }
        Some(s) if s.get("domain").is_some() => {
            let name = str_at(s, &["domain", "name"]);
            let id = str_at(s, &["domain", "id"]);
            let ok = match (name, id) {
                (_, Some(id)) => id == account.domain_id(),
                (Some(name), None) => name == account.domain,
                (None, None) => false,
            };
            if !ok {
                return Err(keystone(
                    StatusCode::UNAUTHORIZED,
                    "The domain in the scope does not match the user",
                ));
            }
            Ok(TokenScope::Domain)
        }
        _ => Ok(default),
    }
}

/// The `{"token": ...}` body of token creation and validation; federated tokens carry
/// `methods: ["mapped"]` and `user.OS-FEDERATION`.
pub(crate) fn token_body(account: &Account, token: &Token, _nocatalog: bool) -> Value {
    let domain = json!({"name": account.domain, "id": account.domain_id()});
    let (methods, user) = match &token.federated {
        None => (
            json!(["password"]),
            json!({
                "name": account.user,
                "id": account.user_id(),
                "domain": domain,
                "password_expires_at": "",
            }),
        ),
        Some(f) => (
            json!(["mapped"]),
            json!({
                "OS-FEDERATION": {
                    "identity_provider": {"id": f.idp_id},
                    "protocol": {"id": "oidc"},
                    "groups": [],
                },
                "domain": domain,
                "id": account.user_id(),
                "name": account.user,
            }),
        ),
    };
    let mut t = json!({
        "expires_at": rfc3339(token.expires),
        "issued_at": rfc3339(token.issued),
        "methods": methods,
        "user": user,
        "roles": [],
        "catalog": [],
    });
    if let Some(obj) = t.as_object_mut() {
        match token.scope {
            TokenScope::Project => {
                obj.insert(
                    "project".into(),
                    json!({"id": account.project_id, "name": account.region, "domain": domain}),
                );
            }
            TokenScope::Domain => {
                obj.insert("domain".into(), domain);
            }
            TokenScope::Unscoped => {}
        }
    }
    json!({ "token": t })
}

fn validate_token(state: &mut State, req: &Req, now: DateTime<Utc>) -> Result<Reply, ApiError> {
    let subject = req
        .header("x-subject-token")
        .ok_or_else(|| bad_request("X-Subject-Token is required"))?;
    let subject = subject.trim().to_string();
    let token = state
        .tokens
        .get(&subject)
        .filter(|t| t.is_valid_at(now))
        .cloned()
        .ok_or_else(|| {
            keystone(
                StatusCode::NOT_FOUND,
                "The token does not exist or has expired",
            )
        })?;
    let account = state
        .config
        .accounts
        .get(token.account)
        .cloned()
        .ok_or_else(|| keystone(StatusCode::NOT_FOUND, "The token's user no longer exists"))?;
    let body = token_body(&account, &token, false);
    Ok(Reply::ok(body).with_header("x-subject-token", &subject))
}

fn project_json(account: &Account) -> Value {
    json!({
        "id": account.project_id,
        "name": account.region,
        "domain_id": account.domain_id(),
        "parent_id": account.domain_id(),
        "is_domain": false,
        "enabled": true,
        "description": "",
        "links": {"self": format!("/v3/projects/{}", account.project_id)},
    })
}

fn projects(ctx: &Ctx, req: &Req) -> Reply {
    let mut list = Vec::new();
    let name_ok = req.q("name").is_none_or(|n| n == ctx.account.region);
    let id_ok = req.q("id").is_none_or(|i| i == ctx.account.project_id);
    if name_ok && id_ok {
        list.push(project_json(&ctx.account));
    }
    Reply::ok(json!({
        "projects": list,
        "links": {"self": "/v3/projects", "next": null, "previous": null},
    }))
}

fn domains(ctx: &Ctx) -> Reply {
    Reply::ok(json!({
        "domains": [{
            "id": ctx.account.domain_id(),
            "name": ctx.account.domain,
            "enabled": true,
            "description": "",
            "links": {"self": format!("/v3/domains/{}", ctx.account.domain_id())},
        }],
        "links": {"self": "/v3/auth/domains"},
    }))
}
