//! The operator as users run it: its image, built offline from `deploy/Dockerfile`, in Pods on
//! a real kubelet node, installed and upgraded with the chart. `cargo xtask test` starts the
//! node (containerd, runc, CNI, kubelet, kube-scheduler) beside the control plane and loads the
//! images; these tests fail (never skip) without them.
//!
//! One test at a time (`support::SERIAL`): each installs the operator's Pods on the same node.
//! The simulator serves HTTPS on the node's bridge address with a certificate from a private
//! CA, and the Pods reach it by a host name from `hostAliases`.

#[path = "../common/mod.rs"]
mod common;

mod disruption;
mod evaluation;
mod failover;
mod install;
mod issuer;
mod keyless;
mod support;
mod uninstall;
