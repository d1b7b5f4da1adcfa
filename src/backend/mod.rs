//! One interface over the four app services, so the controller's steps do not care which
//! service an app lives on. Each method is one or two cloud calls; no Kubernetes here.
//!
//! - `target`: where an app lives and what its service can do (pure).
//! - `app`: the normalised app, with one conversion per service's answer.
//! - `lifecycle`: create, find, show, update, delete.
//! - `credentials`: secrets, resets, AppCodes, FromSecret pushes.
//! - `inventory`: every app of an instance, for drift.

mod app;
mod credentials;
mod inventory;
mod lifecycle;
mod target;

pub use app::CloudApp;
pub use credentials::ChosenCredentials;
pub use lifecycle::{Deleted, Released};
pub use target::{SourceRefusal, Target};
