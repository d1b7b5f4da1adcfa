//! `hwcloud-sim`: a Huawei Cloud simulator for appauth-operator's tests.
//!
//! One HTTP (or HTTPS) listener serves IAM tokens, ModelArts app-auth apps and APIs, DataArts
//! DataService apps, APIG dedicated-gateway apps and ROMA Connect apps, verifies AK/SK
//! signatures and tokens, exchanges OIDC ID tokens, ServiceAccount tokens (CCE Pod Identity)
//! and ECS agency sessions for temporary credentials, and offers test endpoints under `/_sim/`
//! (state, faults, counts, config, accounts, identity providers, exchange records, a test token
//! issuer, reset, and an app-credential gateway check). See `sim/README.md`.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! let sim = hwcloud_sim::spawn(hwcloud_sim::Config::default(), "127.0.0.1:0".parse().unwrap())?;
//! println!("{}", sim.url());
//! # Ok(()) }
//! ```

pub mod auth;
pub mod config;
mod dispatch;
pub mod error;
pub mod faults;
pub mod federation;
mod http;
mod server;
pub mod services;
pub mod state;
mod testing;
pub mod tls;
pub mod validate;

pub use config::{Account, Config, UniqueNames};
pub use faults::{Fault, FaultSpec};
pub use server::{Handle, spawn, spawn_tls};
pub use state::{SimApi, SimApp, StateSnapshot};
pub use tls::{Tls, TlsError};

/// Serves on an already bound listener until `stop` turns true (used by the binary); HTTPS
/// with `tls`, plain HTTP without.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    tls: Option<Tls>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let sim = std::sync::Arc::new(dispatch::Sim::new(state::State::new(config)));
    server::serve(listener, sim, tls, stop).await;
}
