//! The decisions of creating and deleting a cloud resource, as pure functions from what a
//! reconcile observed to what it does next. Both kinds use them: a GatewayApp's app and an
//! InferenceApi's API are found by the fingerprint in their remark, guarded by the same pending
//! marker, and never deleted while another live object holds them.

use std::time::{Duration, Instant};

use super::memory::{AskedWith, KeyRefusal};
use super::status::Reason;

/// A cloud resource the planners can tell apart.
pub trait CloudResource: Clone {
    fn id(&self) -> &str;
}

impl CloudResource for crate::backend::CloudApp {
    fn id(&self) -> &str {
        &self.id
    }
}

impl CloudResource for crate::cloud::modelarts::InferenceApiInfo {
    fn id(&self) -> &str {
        &self.api_id
    }
}

/// What a lookup before a create found, and what else bears on the decision.
#[derive(Debug, Clone)]
pub struct CreateFacts<T> {
    /// Resources carrying this object's fingerprint (an earlier attempt's, or a crashed
    /// process's create).
    pub ours: Vec<T>,
    /// Resources of the same name made for something else.
    pub foreign: Vec<T>,
    /// The object asks to adopt a foreign resource (tenancy was checked before any cloud call:
    /// asking without being permitted never gets this far).
    pub adopt: Adoption,
    /// Who else holds the first foreign resource: another live object of this cluster (its
    /// namespace/name), or another cluster (by its fingerprint).
    pub foreign_held_by: Option<String>,
    /// The credentials Secret was retained for this app id (only that app may take it over).
    pub secret_retained_for: Option<String>,
    /// How long a create of ours has gone unanswered, if one has.
    pub unresolved_for: Option<Duration>,
    /// How long the open marker still asks to wait (a create by another process may land).
    pub marker_wait: Option<Duration>,
    /// How long a create may take (request timeout plus lease duration).
    pub grace: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adoption {
    NotAsked,
    Allowed,
}

/// What to do after the lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreatePlan<T> {
    /// Ours exists: keep the first (by id), delete the twins (only where names are not unique).
    Recover { keep: T, twins: Vec<T> },
    /// Take over the foreign resource the object asked for.
    Adopt(T),
    /// Nothing found and nothing can land any more: create.
    Create,
    /// A create may still be in flight: look again after this long.
    Wait(Duration),
    /// Refused, with the reason and which resource (or Secret) stands in the way.
    Refuse(Refusal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A foreign resource has the name: `id`, and whether adoption was asked for.
    NameTaken { id: String, adoption: Adoption },
    /// Another object manages the resource.
    HeldBy { id: String, owner: String },
    /// The Secret belongs to something else (or was retained for another app).
    SecretTaken,
}

impl Refusal {
    pub fn reason(&self) -> Reason {
        match self {
            Refusal::NameTaken { .. } => Reason::NameConflict,
            Refusal::HeldBy { .. } => Reason::AlreadyManaged,
            Refusal::SecretTaken => Reason::SecretConflict,
        }
    }
}

/// The create-or-recover decision. Ours first (recovery never creates a twin), then a foreign
/// resource (refused when another object or cluster holds it, whatever was asked; adopted only
/// when asked and allowed), then a create, unless one of ours may still land.
pub fn plan_create<T: CloudResource>(facts: CreateFacts<T>) -> CreatePlan<T> {
    let takes_secret = |id: &str| facts.secret_retained_for.as_deref().is_none_or(|r| r == id);
    let mut ours = facts.ours;
    ours.sort_by(|a, b| a.id().cmp(b.id()));
    let mut ours = ours.into_iter();
    if let Some(keep) = ours.next() {
        if !takes_secret(keep.id()) {
            return CreatePlan::Refuse(Refusal::SecretTaken);
        }
        return CreatePlan::Recover {
            keep,
            twins: ours.collect(),
        };
    }
    if let Some(other) = facts.foreign.into_iter().next() {
        let id = other.id().to_string();
        if let Some(owner) = facts.foreign_held_by {
            return CreatePlan::Refuse(Refusal::HeldBy { id, owner });
        }
        if facts.adopt != Adoption::Allowed {
            return CreatePlan::Refuse(Refusal::NameTaken {
                id,
                adoption: facts.adopt,
            });
        }
        if !takes_secret(&id) {
            return CreatePlan::Refuse(Refusal::SecretTaken);
        }
        return CreatePlan::Adopt(other);
    }
    if facts.secret_retained_for.is_some() {
        return CreatePlan::Refuse(Refusal::SecretTaken);
    }
    if let Some(since) = facts.unresolved_for.filter(|s| *s < facts.grace) {
        return CreatePlan::Wait(facts.grace - since);
    }
    match facts.marker_wait {
        Some(after) => CreatePlan::Wait(after),
        None => CreatePlan::Create,
    }
}

/// Whether the marker must be stamped again before a create: one from another process, or
/// old enough that a crash during this create would not make the next process wait.
pub fn restamp_marker(marker_is_ours: bool, marker_age: Duration, grace: Duration) -> bool {
    !marker_is_ours || marker_age >= grace / 2
}

/// Whether a create the cloud refused because another app holds its key stands without asking
/// again: asked with the same generation, source Secret version and account as now (`None`: the
/// source is gone or unknown), the refusal in status (a status write that failed, or a pause
/// since, is not left unsaid), and less than `period` ago. The app holding the key may go at any
/// time: the resync sweep asks again after a period, rather than every event that happens to
/// wake the object.
pub fn key_refusal_stands(
    refusal: Option<KeyRefusal>,
    asking_now: Option<AskedWith>,
    reported: bool,
    now: Instant,
    period: Duration,
) -> bool {
    refusal.is_some_and(|r| {
        reported && Some(r.asked) == asking_now && now.saturating_duration_since(r.at) < period
    })
}

/// What a deletion removes in the cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletePlan {
    /// Ours to delete.
    pub delete: Vec<String>,
    /// Held by another live object: left to it.
    pub held: Vec<String>,
}

/// Where a deletion looks for its resource: the id it knows, or (with an open marker and no id)
/// a lookup by name that finds what a create of unknown outcome made.
pub fn delete_needs_lookup(known_id: Option<&str>, marker_open: bool) -> bool {
    known_id.is_none() && marker_open
}

/// The deletion's ids: those found, minus those another live object holds. `Err(wait)` when
/// nothing was found but a create may still land (the marker asks to wait).
pub fn plan_delete(
    found: Vec<String>,
    held_by_other: impl Fn(&str) -> bool,
    marker_wait: Option<Duration>,
) -> Result<DeletePlan, Duration> {
    if found.is_empty()
        && let Some(after) = marker_wait
    {
        return Err(after);
    }
    let (held, delete) = found.into_iter().partition(|id| held_by_other(id));
    Ok(DeletePlan { delete, held })
}

#[cfg(test)]
mod tests;
