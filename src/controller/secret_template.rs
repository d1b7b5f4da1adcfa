//! `spec.secret.template`: extra Secret keys rendered with minijinja from the credentials and the
//! object. Pure.
//!
//! minijinja has no filesystem, environment or network access; it is built without templates
//! that name others or macros (include, import, extends and macro are syntax errors), undefined
//! variables are errors, recursive loops stop at a depth of 32, and a fuel budget bounds both the
//! time a render takes and the memory it allocates. Each rendered value is capped too.
//!
//! Templates are checked with placeholder values (`check`) before any cloud call, and rendered
//! with the real values (`render`) when the Secret is written. Error text names the template key,
//! the error kind and the line; from a render with real values it carries nothing else (a
//! minijinja detail could quote a value), and never any rendered output.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Error as JinjaError, ErrorKind, UndefinedBehavior, Value};

use crate::api::GatewayApp;
use crate::backend::Target;

/// Fuel per render: about this many instructions, or 64 bytes of created data per unit.
pub const FUEL: u64 = 50_000;
/// Largest rendered value, in bytes.
pub const MAX_RENDERED_BYTES: usize = 16 * 1024;

/// The variables a template may use (besides minijinja's globals such as `range`).
pub const VARIABLES: [&str; 9] = [
    "appKey",
    "appSecret",
    "appId",
    "appCode",
    "name",
    "namespace",
    "service",
    "instance",
    "secretName",
];

/// The values a template is rendered with.
pub struct Vars<'a> {
    pub app_key: &'a str,
    pub app_secret: &'a str,
    pub app_id: &'a str,
    /// Only with `spec.appCode`; otherwise `appCode` is undefined.
    pub app_code: Option<&'a str>,
}

/// A template that cannot be rendered. The message never holds a value or rendered output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.secret.template[{key:?}]: {what}")]
pub struct TemplateError {
    pub key: String,
    pub what: String,
}

/// The templates of an object (empty when it has none).
pub fn templates(app: &GatewayApp) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    app.spec
        .secret
        .as_ref()
        .map(|s| &s.template)
        .unwrap_or(&EMPTY)
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(32);
    if let Ok(syntax) = SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .trim_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.add_filter("b64encode", |v: String| {
        base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
    });
    env
}

/// The context: credentials and where the object and its app live.
fn context(app: &GatewayApp, vars: &Vars<'_>) -> Value {
    let target = Target::from_spec(&app.spec);
    let mut ctx: BTreeMap<&str, Value> = BTreeMap::new();
    ctx.insert("appKey", Value::from(vars.app_key));
    ctx.insert("appSecret", Value::from(vars.app_secret));
    ctx.insert("appId", Value::from(vars.app_id));
    if let Some(code) = vars.app_code {
        ctx.insert("appCode", Value::from(code));
    }
    let meta = &app.metadata;
    ctx.insert("name", Value::from(meta.name.clone().unwrap_or_default()));
    ctx.insert(
        "namespace",
        Value::from(meta.namespace.clone().unwrap_or_default()),
    );
    let service = target.as_ref().map(|t| t.service().as_str());
    ctx.insert("service", Value::from(service.unwrap_or_default()));
    let instance = target.as_ref().map(|t| t.instance());
    ctx.insert("instance", Value::from(instance.unwrap_or_default()));
    ctx.insert("secretName", Value::from(super::secret::secret_name(app)));
    Value::from(
        ctx.into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect::<BTreeMap<Value, Value>>(),
    )
}

/// How much of a minijinja error goes into the message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// Rendered with placeholders: the detail cannot quote a credential.
    Full,
    /// Rendered with real values: the kind and line only.
    KindOnly,
}

fn describe(e: &JinjaError, detail: Detail) -> String {
    let mut s = e.kind().to_string();
    if detail == Detail::Full
        && let Some(d) = e.detail()
    {
        s.push_str(": ");
        s.push_str(d);
    }
    if let Some(line) = e.line().filter(|l| *l > 0) {
        s.push_str(&format!(" at line {line}"));
    }
    if e.kind() == ErrorKind::OutOfFuel {
        s.push_str(" (the template does too much work)");
    }
    s
}

fn render_all(
    app: &GatewayApp,
    vars: &Vars<'_>,
    detail: Detail,
) -> Result<BTreeMap<String, String>, TemplateError> {
    let templates = templates(app);
    if templates.is_empty() {
        return Ok(BTreeMap::new());
    }
    let env = environment();
    let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
    let ctx = context(app, vars);
    let mut out = BTreeMap::new();
    for (key, source) in templates {
        let fail = |what: String| TemplateError {
            key: key.clone(),
            what,
        };
        let template = env
            .template_from_str(source)
            .map_err(|e| fail(describe(&e, detail)))?;
        // Names no render can define, told before rendering (a strict render names none).
        let used = template.undeclared_variables(false);
        let mut unknown: Vec<&String> = used
            .iter()
            .filter(|v| !VARIABLES.contains(&v.as_str()) && !globals.contains(v.as_str()))
            .collect();
        unknown.sort();
        if let Some(first) = unknown.first() {
            return Err(fail(format!(
                "undefined value '{first}' (variables: {})",
                VARIABLES.join(", ")
            )));
        }
        let rendered = template.render(ctx.clone()).map_err(|e| {
            let mut what = describe(&e, detail);
            if e.kind() == ErrorKind::UndefinedError
                && vars.app_code.is_none()
                && used.contains("appCode")
            {
                what.push_str(" (appCode is defined only with spec.appCode: true)");
            }
            fail(what)
        })?;
        if rendered.len() > MAX_RENDERED_BYTES {
            return Err(fail(format!(
                "the rendered value is larger than {MAX_RENDERED_BYTES} bytes"
            )));
        }
        out.insert(key.clone(), rendered);
    }
    Ok(out)
}

/// Checks every template by rendering it with placeholder credentials of realistic length:
/// syntax, unknown variables, runtime errors, fuel and size. Before any cloud call.
pub fn check(app: &GatewayApp) -> Result<(), TemplateError> {
    const KEY: &str = "placeholderKey000000000000000000";
    const SECRET: &str = "placeholderSecret00000000000000000000000000000000000000000000000";
    const ID: &str = "placeholderId0000000000000000000";
    const CODE: &str = "placeholderCode00000000000000000000000000000000000000000000000000";
    let vars = Vars {
        app_key: KEY,
        app_secret: SECRET,
        app_id: ID,
        app_code: app.spec.app_code.then_some(CODE),
    };
    render_all(app, &vars, Detail::Full).map(|_| ())
}

/// Renders every template with the real values, for the Secret.
pub fn render(
    app: &GatewayApp,
    vars: &Vars<'_>,
) -> Result<BTreeMap<String, String>, TemplateError> {
    render_all(app, vars, Detail::KindOnly)
}

#[cfg(test)]
mod tests;
