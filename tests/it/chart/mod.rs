//! The Helm chart `charts/appauth-operator` and the kustomize base `deploy/base`, one module per
//! concern; what they share is in `support`.
//!
//! Needs `APPAUTH_TESTBIN` (helm, kubectl; `cargo xtask test` sets it) and, for the tests that
//! talk to the apiserver, `APPAUTH_TEST_KUBECONFIG`.

pub(crate) mod alerts;
mod apiserver;
mod examples;
mod files;
mod keyless;
mod kustomize;
mod lint;
mod operator;
mod rbac;
mod render;
pub(crate) mod support;
