//! Integration tests: the simulator over real HTTP on 127.0.0.1:0.

mod common;

mod apig;
mod auth;
mod binary;
mod dataarts;
mod faults;
mod fed;
mod federation;
mod gateway;
mod modelarts;
mod pod_identity;
mod roma;
mod testing;
mod tls;
