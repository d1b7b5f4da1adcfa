//! Shared by the integration tests: admission matrices and the control-plane connection.
#![allow(dead_code)]

pub mod cases;
pub mod cluster;
