//! appauth-operator: provisions Huawei Cloud API-gateway apps and ModelArts inference APIs from
//! custom resources and delivers the credentials into Kubernetes Secrets.

pub mod api;
pub mod cloud;
pub mod crdgen;
