//! The path of one cloud request: route, authenticate, count, inject faults, check the
//! project, execute.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;

use crate::auth;
use crate::error::{self, ApiError};
use crate::faults;
use crate::http::{Reply, Req};
use crate::services::{self, Ctx};
use crate::state::{State, Svc};

/// Shared simulator state.
pub struct Sim {
    state: Mutex<State>,
}

impl Sim {
    pub fn new(state: State) -> Self {
        Sim {
            state: Mutex::new(state),
        }
    }

    /// Locks the state; a poisoned lock is recovered (the state stays usable).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What to send back.
pub struct Outcome {
    pub reply: Reply,
    /// Close the connection without sending `reply` (the operation was performed).
    pub drop_connection: bool,
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Self {
        Outcome {
            reply,
            drop_connection: false,
        }
    }
}

/// Handles one cloud request (everything outside `/_sim/`).
pub async fn cloud(sim: &Sim, req: &Req) -> Outcome {
    let segs = req.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let Some(route) = services::resolve(&req.method, &segs) else {
        let (_, style) = services::service_of(&segs);
        return error::no_such_api()
            .into_reply(style, &req.request_id)
            .into();
    };
    let style = route.style;
    let rid = req.request_id.as_str();

    let now = Utc::now();
    let (ctx, fault, latency_ms) = {
        let mut st = sim.lock();
        let ctx = if route.requires_auth() {
            match auth::authenticate(&st, req, now, route.service != Svc::Iam) {
                Ok(idx) => Some(Ctx {
                    account: st.config.accounts[idx].clone(),
                    account_idx: idx,
                    now,
                }),
                Err(e) => {
                    st.count(route.service, "unauthorized");
                    if e == auth::AuthError::SecurityTokenExpired {
                        // Tests assert that a credential refresher never let one lapse.
                        st.count(route.service, "security_token_expired");
                    }
                    tracing::debug!(service = route.service.as_str(), op = route.op, reason = ?e, "unauthorized");
                    return e.to_api_error(route.service).into_reply(style, rid).into();
                }
            }
        } else {
            None
        };
        st.count(route.service, route.op);
        let fault = faults::pick(&mut st, route.service, route.op);
        (ctx, fault, st.config.latency_ms)
    };

    let delay = latency_ms.saturating_add(fault.as_ref().map_or(0, |f| f.latency_ms));
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }

    if let Some(f) = &fault
        && let Some((status, code)) = &f.status
    {
        let code = code
            .clone()
            .unwrap_or_else(|| error::fault_code(route.service.as_str(), *status));
        let msg = format!("Injected fault ({} {})", status.as_u16(), route.op);
        let mut reply = ApiError::new(*status, &code, msg).into_reply(style, rid);
        if let Some(secs) = f.retry_after {
            reply = reply.with_header("retry-after", &secs.to_string());
        }
        return reply.into();
    }

    if let (Some(project), Some(ctx)) = (&route.project, &ctx)
        && *project != ctx.account.project_id
    {
        return error::forbidden(style).into_reply(style, rid).into();
    }

    let ctx = ctx.map(|c| Ctx {
        now: Utc::now(),
        ..c
    });
    let result = match &route.target {
        services::Target::Federation(op) => crate::federation::execute(sim, op, req).await,
        _ => {
            let mut st = sim.lock();
            services::execute(&mut st, ctx.as_ref(), &route, req, Utc::now())
        }
    };
    let reply = result.unwrap_or_else(|e| e.into_reply(style, rid));
    Outcome {
        reply,
        drop_connection: fault.is_some_and(|f| f.drop_after_commit),
    }
}
