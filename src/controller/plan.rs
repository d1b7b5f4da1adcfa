//! The decisions of creating and deleting a cloud resource, as pure functions from what a
//! reconcile observed to what it does next. Both kinds use them: a GatewayApp's app and an
//! InferenceApi's API are found by the fingerprint in their remark, guarded by the same pending
//! marker, and never deleted while another live object holds them.

use std::time::Duration;

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
    /// The object asks to adopt a foreign resource, and the operator allows adoption.
    pub adopt: Adoption,
    /// Another live object claims the first foreign resource: its namespace/name.
    pub foreign_claimed_by: Option<String>,
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
    /// Asked for, but the operator runs with adoption off.
    Disallowed,
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
/// resource (adopted only when asked and allowed, and not held by another object), then a
/// create, unless one of ours may still land.
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
        if facts.adopt != Adoption::Allowed {
            return CreatePlan::Refuse(Refusal::NameTaken {
                id,
                adoption: facts.adopt,
            });
        }
        if let Some(owner) = facts.foreign_claimed_by {
            return CreatePlan::Refuse(Refusal::HeldBy { id, owner });
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
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct R(&'static str);
    impl CloudResource for R {
        fn id(&self) -> &str {
            self.0
        }
    }

    fn facts() -> CreateFacts<R> {
        CreateFacts {
            ours: Vec::new(),
            foreign: Vec::new(),
            adopt: Adoption::NotAsked,
            foreign_claimed_by: None,
            secret_retained_for: None,
            unresolved_for: None,
            marker_wait: None,
            grace: Duration::from_secs(30),
        }
    }

    #[test]
    fn create_or_recover_decides_from_what_was_found() {
        let s = Duration::from_secs;
        let retained = |id: &str| Some(id.to_string());
        let cases: Vec<(&str, CreateFacts<R>, CreatePlan<R>)> = vec![
            ("nothing found", facts(), CreatePlan::Create),
            (
                "ours found: recovered",
                CreateFacts {
                    ours: vec![R("a")],
                    ..facts()
                },
                CreatePlan::Recover {
                    keep: R("a"),
                    twins: vec![],
                },
            ),
            (
                "twins: the lowest id is kept",
                CreateFacts {
                    ours: vec![R("c"), R("a"), R("b")],
                    ..facts()
                },
                CreatePlan::Recover {
                    keep: R("a"),
                    twins: vec![R("b"), R("c")],
                },
            ),
            (
                "ours wins over a foreign one of the same name",
                CreateFacts {
                    ours: vec![R("a")],
                    foreign: vec![R("f")],
                    ..facts()
                },
                CreatePlan::Recover {
                    keep: R("a"),
                    twins: vec![],
                },
            ),
            (
                "ours, but the Secret was retained for another app",
                CreateFacts {
                    ours: vec![R("a")],
                    secret_retained_for: retained("x"),
                    ..facts()
                },
                CreatePlan::Refuse(Refusal::SecretTaken),
            ),
            (
                "ours, and the Secret was retained for it",
                CreateFacts {
                    ours: vec![R("a")],
                    secret_retained_for: retained("a"),
                    ..facts()
                },
                CreatePlan::Recover {
                    keep: R("a"),
                    twins: vec![],
                },
            ),
            (
                "foreign, adoption not asked",
                CreateFacts {
                    foreign: vec![R("f")],
                    ..facts()
                },
                CreatePlan::Refuse(Refusal::NameTaken {
                    id: "f".into(),
                    adoption: Adoption::NotAsked,
                }),
            ),
            (
                "foreign, adoption asked but disallowed",
                CreateFacts {
                    foreign: vec![R("f")],
                    adopt: Adoption::Disallowed,
                    ..facts()
                },
                CreatePlan::Refuse(Refusal::NameTaken {
                    id: "f".into(),
                    adoption: Adoption::Disallowed,
                }),
            ),
            (
                "foreign, adopted",
                CreateFacts {
                    foreign: vec![R("f")],
                    adopt: Adoption::Allowed,
                    ..facts()
                },
                CreatePlan::Adopt(R("f")),
            ),
            (
                "foreign, held by another object",
                CreateFacts {
                    foreign: vec![R("f")],
                    adopt: Adoption::Allowed,
                    foreign_claimed_by: Some("ns/other".into()),
                    ..facts()
                },
                CreatePlan::Refuse(Refusal::HeldBy {
                    id: "f".into(),
                    owner: "ns/other".into(),
                }),
            ),
            (
                "foreign, adopted, Secret retained for it",
                CreateFacts {
                    foreign: vec![R("f")],
                    adopt: Adoption::Allowed,
                    secret_retained_for: retained("f"),
                    ..facts()
                },
                CreatePlan::Adopt(R("f")),
            ),
            (
                "foreign, adopted, Secret retained for another",
                CreateFacts {
                    foreign: vec![R("f")],
                    adopt: Adoption::Allowed,
                    secret_retained_for: retained("x"),
                    ..facts()
                },
                CreatePlan::Refuse(Refusal::SecretTaken),
            ),
            (
                "nothing found, but a retained Secret: never a new app into it",
                CreateFacts {
                    secret_retained_for: retained("x"),
                    ..facts()
                },
                CreatePlan::Refuse(Refusal::SecretTaken),
            ),
            (
                "our create unanswered 10s ago",
                CreateFacts {
                    unresolved_for: Some(s(10)),
                    ..facts()
                },
                CreatePlan::Wait(s(20)),
            ),
            (
                "our create unanswered for longer than a create takes",
                CreateFacts {
                    unresolved_for: Some(s(31)),
                    ..facts()
                },
                CreatePlan::Create,
            ),
            (
                "another process's fresh marker",
                CreateFacts {
                    marker_wait: Some(s(12)),
                    ..facts()
                },
                CreatePlan::Wait(s(12)),
            ),
            (
                "a create in flight never hides what was found",
                CreateFacts {
                    ours: vec![R("a")],
                    unresolved_for: Some(s(1)),
                    ..facts()
                },
                CreatePlan::Recover {
                    keep: R("a"),
                    twins: vec![],
                },
            ),
        ];
        for (name, facts, want) in cases {
            assert_eq!(plan_create(facts), want, "{name}");
        }
    }

    #[test]
    fn refusals_map_to_their_reasons() {
        let cases = [
            (
                Refusal::NameTaken {
                    id: "f".into(),
                    adoption: Adoption::NotAsked,
                },
                Reason::NameConflict,
            ),
            (
                Refusal::HeldBy {
                    id: "f".into(),
                    owner: "o".into(),
                },
                Reason::AlreadyManaged,
            ),
            (Refusal::SecretTaken, Reason::SecretConflict),
        ];
        for (refusal, reason) in cases {
            assert_eq!(refusal.reason(), reason, "{refusal:?}");
        }
    }

    #[test]
    fn the_marker_is_stamped_again_unless_ours_and_fresh() {
        let grace = Duration::from_secs(30);
        let cases = [
            ("ours, fresh", true, 5, false),
            ("ours, half the grace old", true, 15, true),
            ("another process's", false, 0, true),
        ];
        for (name, ours, age, want) in cases {
            assert_eq!(
                restamp_marker(ours, Duration::from_secs(age), grace),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn deletion_removes_what_is_ours_and_waits_for_what_may_land() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let held = |id: &str| id == "h";
        let cases = [
            (
                "known id",
                ids(&["a"]),
                None,
                Ok(DeletePlan {
                    delete: ids(&["a"]),
                    held: ids(&[]),
                }),
            ),
            (
                "one held by another object",
                ids(&["a", "h"]),
                None,
                Ok(DeletePlan {
                    delete: ids(&["a"]),
                    held: ids(&["h"]),
                }),
            ),
            (
                "nothing found, nothing may land",
                ids(&[]),
                None,
                Ok(DeletePlan {
                    delete: ids(&[]),
                    held: ids(&[]),
                }),
            ),
            (
                "nothing found, a create may land",
                ids(&[]),
                Some(Duration::from_secs(9)),
                Err(Duration::from_secs(9)),
            ),
            (
                "found, even though the marker is fresh",
                ids(&["a"]),
                Some(Duration::from_secs(9)),
                Ok(DeletePlan {
                    delete: ids(&["a"]),
                    held: ids(&[]),
                }),
            ),
        ];
        for (name, found, wait, want) in cases {
            assert_eq!(plan_delete(found, held, wait), want, "{name}");
        }
        assert!(delete_needs_lookup(None, true));
        assert!(!delete_needs_lookup(Some("a"), true));
        assert!(!delete_needs_lookup(None, false));
    }
}
