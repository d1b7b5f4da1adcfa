//! The HTTP(S) listener, per-connection serving (with "drop after commit"), and [`Handle`].

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

use crate::config::{Account, Config};
use crate::dispatch::{self, Outcome, Sim};
use crate::faults::{self, Fault, FaultSpec};
use crate::http::{Reply, Req};
use crate::state::{State, StateSnapshot, hex32};
use crate::testing;
use crate::tls::Tls;

/// Largest request body accepted.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// A client that connects and never finishes its handshake must not hold a task for ever.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A running simulator. Dropping it stops the server (without waiting).
pub struct Handle {
    addr: SocketAddr,
    scheme: &'static str,
    sim: Arc<Sim>,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

/// Binds `addr` and serves the simulator on a background thread with its own Tokio runtime,
/// so it works from synchronous code and from any async runtime flavour alike.
pub fn spawn(config: Config, addr: SocketAddr) -> io::Result<Handle> {
    start(config, addr, None)
}

/// [`spawn`], serving HTTPS with `tls`.
pub fn spawn_tls(config: Config, addr: SocketAddr, tls: Tls) -> io::Result<Handle> {
    start(config, addr, Some(tls))
}

fn start(config: Config, addr: SocketAddr, tls: Option<Tls>) -> io::Result<Handle> {
    let scheme = scheme(tls.as_ref());
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim::new(State::new(config)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("hwcloud-sim")
        .enable_all()
        .build()?;
    let sim_for_thread = sim.clone();
    let thread = std::thread::Builder::new()
        .name("hwcloud-sim".to_string())
        .spawn(move || {
            runtime.block_on(async move {
                match TcpListener::from_std(listener) {
                    Ok(listener) => serve(listener, sim_for_thread, tls, stop_rx).await,
                    Err(e) => tracing::error!(error = %e, "hwcloud-sim could not start"),
                }
            });
            runtime.shutdown_background();
        })?;
    Ok(Handle {
        addr,
        scheme,
        sim,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

/// `http` or `https`, as the listener serves.
fn scheme(tls: Option<&Tls>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

/// Accepts connections until `stop` turns true or its sender is dropped; with `tls`, each one
/// is a TLS connection.
pub async fn serve(
    listener: TcpListener,
    sim: Arc<Sim>,
    tls: Option<Tls>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    match &tls {
                        Some(tls) => {
                            tokio::spawn(serve_tls(tls.clone(), stream, sim.clone(), stop.clone()));
                        }
                        None => {
                            tokio::spawn(serve_connection(stream, sim.clone(), stop.clone()));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
}

async fn serve_tls(tls: Tls, stream: TcpStream, sim: Arc<Sim>, stop: watch::Receiver<bool>) {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
        Ok(Ok(stream)) => serve_connection(stream, sim, stop).await,
        // A client that does not trust the certificate ends here.
        Ok(Err(e)) => tracing::info!(error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!("TLS handshake timed out"),
    }
}

async fn serve_connection<S>(stream: S, sim: Arc<Sim>, mut stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let kill = Arc::new(Notify::new());
    let kill_for_service = kill.clone();
    let service = service_fn(move |request: Request<Incoming>| {
        let sim = sim.clone();
        let kill = kill_for_service.clone();
        async move { Ok::<_, Infallible>(handle(&sim, request, &kill).await) }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = conn => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        // Dropping the connection future closes the socket without a response.
        _ = kill.notified() => tracing::debug!("connection dropped after commit (fault)"),
        _ = stop.changed() => {}
    }
}

async fn handle(sim: &Sim, request: Request<Incoming>, kill: &Notify) -> Response<Full<Bytes>> {
    let request_id = hex32();
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let reply = Reply::json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error_code": "APIG.2012", "error_msg": "Request body unreadable or too large"}),
            );
            return build_response(reply, &request_id);
        }
    };
    let req = Req::new(
        parts.method,
        parts.uri.path().to_string(),
        parts.uri.query().unwrap_or_default().to_string(),
        parts.headers,
        body,
        request_id,
    );
    let outcome = if req.raw_path == "/_sim" || req.raw_path.starts_with("/_sim/") {
        Outcome::from(testing::handle(sim, &req).await)
    } else {
        dispatch::cloud(sim, &req).await
    };
    tracing::debug!(
        method = %req.method,
        path = %redacted_path(&req.raw_path),
        status = outcome.reply.status.as_u16(),
        dropped = outcome.drop_connection,
        "request"
    );
    if outcome.drop_connection {
        kill.notify_one();
        std::future::pending::<()>().await;
    }
    build_response(outcome.reply, &req.request_id)
}

/// The path for logs, with AppCode values (ModelArts' reset-AppCode path) hidden.
fn redacted_path(path: &str) -> String {
    let mut hide_next = false;
    path.split('/')
        .map(|seg| {
            let out = if hide_next { "***" } else { seg };
            hide_next = seg == "app-code";
            out
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn build_response(reply: Reply, request_id: &str) -> Response<Full<Bytes>> {
    let body = match (&reply.body, &reply.text) {
        (Some(v), _) => Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
        (None, Some(t)) => Bytes::from(t.clone()),
        (None, None) => Bytes::new(),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    if reply.body.is_some() {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
    } else if reply.text.is_some() {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain;charset=UTF-8"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", v);
    }
    for (name, value) in reply.headers {
        headers.insert(name, value);
    }
    response
}

impl Handle {
    /// `http://127.0.0.1:PORT`, or `https://` when it serves TLS.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for its thread to end.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }

    /// Everything the simulator holds (same as `GET /_sim/state`).
    pub fn state(&self) -> StateSnapshot {
        self.sim.lock().snapshot()
    }

    /// The secret halves (secret key, security token) of every temporary credential issued,
    /// for tests that scan logs for them; never served over HTTP.
    pub fn temporary_secrets(&self) -> Vec<String> {
        self.sim
            .lock()
            .fed
            .temp_creds
            .values()
            .flat_map(|c| [c.secret.clone(), c.security_token.clone()])
            .collect()
    }

    /// Installs a fault (same as `POST /_sim/faults`); returns its id.
    pub fn add_fault(&self, spec: FaultSpec) -> Result<u64, String> {
        faults::add(&mut self.sim.lock(), spec)
    }

    pub fn faults(&self) -> Vec<Fault> {
        self.sim.lock().faults.clone()
    }

    pub fn clear_faults(&self) {
        self.sim.lock().faults.clear();
    }

    /// Per-operation request counts (`<service>.<op>`).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.sim.lock().counts.clone()
    }

    /// One count, 0 when absent.
    pub fn count(&self, key: &str) -> u64 {
        self.sim.lock().counts.get(key).copied().unwrap_or(0)
    }

    pub fn reset_counts(&self) {
        self.sim.lock().counts.clear();
    }

    /// Merges a partial settings object (same as `PUT /_sim/config`).
    pub fn set_config(&self, patch: serde_json::Value) -> Result<(), String> {
        let mut st = self.sim.lock();
        st.config.apply_patch(&patch)?;
        if patch.get("seed").is_some() {
            st.reseed();
        }
        Ok(())
    }

    pub fn config(&self) -> Config {
        self.sim.lock().config.clone()
    }

    /// Adds an account (same as `POST /_sim/accounts`).
    pub fn add_account(&self, account: Account) -> Result<(), String> {
        testing::add_account(&self.sim, account).map(|_| ())
    }

    /// Clears apps, APIs, faults and counts (same as `POST /_sim/reset`).
    pub fn reset(&self) {
        self.sim.lock().reset();
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop_now();
    }
}
