//! The operator's integration tests, one binary: every suite that can share the control plane
//! with the others runs here, one module per suite (`cargo test --test it rare_paths` runs one).
//!
//! Binaries of their own, because they must not run beside other tests:
//! - `tests/cost.rs` counts the apiserver's own request counters (anything else writing would
//!   show in its figures);
//! - `tests/chaos.rs` runs bursts of hundreds (in `cargo xtask chaos`, thousands) of objects with
//!   kill -9s, sized and timed for a machine it has to itself;
//! - `tests/control_plane_faults.rs` restarts the kube-apiserver and etcd under every client;
//! - `tests/fuzz/` is CPU-bound for a fixed time per target (`cargo xtask chaos` runs it long).
//!
//! `cargo xtask chaos` runs those alone, and the `crash_safety` and `hostile_specs` modules of this
//! binary one test at a time.
//!
//! Concurrency is libtest's default, one test per core (`--test-threads` overrides it): the
//! same as each of the former per-suite binaries ran with, so the peak load on the machine and
//! on the apiserver is unchanged. Each test that starts an operator starts one process and one
//! simulator of its own, in a namespace of its own (`common::cluster::namespace` makes names
//! unique within the process).

#[path = "../common/mod.rs"]
mod common;

mod admission;
mod argocd_health;
mod audit;
mod ca_bundle;
mod cel_rules;
mod chart;
mod cloud_client;
mod crash_safety;
mod crd_drift;
mod docs;
mod gateway_app;
mod gateway_app_behaviour;
mod hostile_specs;
mod inference_api;
mod keyless;
mod keyless_sources;
mod kstatus;
mod leader_election;
mod monitoring;
mod operator_gauges;
mod properties;
mod proxy;
mod rare_paths;
mod restore;
mod secret_template;
mod shards;
mod signer_sdk;
mod tenancy;
mod tenancy_admission;
