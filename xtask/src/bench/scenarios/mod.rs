//! The measurements, one file each: the apiserver's raw write limit, a burst of new apps (with
//! the idle latency and a quiet resync after it), and startup.

mod burst;
mod idle;
mod raw_limit;
mod startup;

use std::path::Path;

use kube::Client;

pub use burst::burst;
pub use raw_limit::raw_limit;
pub use startup::startup;

use super::Options;

/// What every measurement needs.
pub struct Env<'a> {
    pub client: &'a Client,
    /// The state directory: kubeconfig, and the logs of the processes started.
    pub dir: &'a Path,
    /// The build directory the simulator comes from.
    pub target: &'a Path,
    /// The operator binary measured.
    pub operator: &'a Path,
    pub opts: &'a Options,
}
