//! Huawei Cloud client: signing, IAM tokens, typed operations for the four app services and
//! ModelArts APIs, error classification, rate limits. No Kubernetes code in here.

pub mod apig;
pub mod ca_bundle;
pub mod credentials;
pub mod dataarts;
pub mod endpoints;
pub mod error;
pub mod federation;
pub mod iam;
pub mod ids;
pub mod modelarts;
pub mod projects;
pub mod ratelimit;
pub mod roma;
pub mod secret;
pub mod signer;
pub mod transport;

pub use ca_bundle::{CaBundle, CaBundleError};
pub use credentials::{Account, Credentials};
pub use endpoints::{Endpoints, Service};
pub use error::{CloudError, ErrorCategory, ErrorCodes};
pub use secret::{ExposeSecret, SecretString};
pub use transport::{Cloud, CloudClient, CloudConfig, RequestObserver};
