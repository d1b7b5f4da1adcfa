//! Shared by the integration tests: admission matrices and the control-plane connection.
#![allow(dead_code)]

pub mod cases;
pub mod cloud;
pub mod cluster;
pub mod converge;
pub mod federation;
pub mod objects;
pub mod operator;
pub mod proxy;
pub mod sim;
pub mod states;
pub mod tls;
pub mod wait;
