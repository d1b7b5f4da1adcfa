//! The measurements, one file each: the apiserver's raw write limit, a burst of new apps (with
//! the idle latency and a quiet resync after it), and startup.

mod burst;
mod idle;
mod raw_limit;
mod split;
mod startup;

use std::path::Path;

use kube::Client;

pub use burst::burst;
pub use raw_limit::raw_limit;
pub use split::split;
pub use startup::startup;

use super::{CloudLimits, Mode, Options};

/// One burst: its size, simulated cloud latency, mode and cloud limits; `idle`: the idle
/// latency and the quiet resync follow it.
pub struct Run {
    pub n: usize,
    pub latency_ms: u64,
    pub mode: Mode,
    pub cloud: CloudLimits,
    pub idle: bool,
}

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
