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
        foreign_held_by: None,
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
                foreign_held_by: Some("ns/other".into()),
                ..facts()
            },
            CreatePlan::Refuse(Refusal::HeldBy {
                id: "f".into(),
                owner: "ns/other".into(),
            }),
        ),
        (
            "foreign, held elsewhere, adoption not asked: held, whatever the annotations say",
            CreateFacts {
                foreign: vec![R("f")],
                foreign_held_by: Some("another cluster".into()),
                ..facts()
            },
            CreatePlan::Refuse(Refusal::HeldBy {
                id: "f".into(),
                owner: "another cluster".into(),
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

#[test]
fn a_refused_key_stands_until_the_spec_the_source_the_account_or_a_resync_period_says_otherwise() {
    let period = Duration::from_secs(600);
    let at = Instant::now();
    let asked = AskedWith {
        generation: 2,
        source: 7,
        account: 9,
    };
    let refusal = Some(KeyRefusal { asked, at });
    let now_with = |generation, source, account| {
        Some(AskedWith {
            generation,
            source,
            account,
        })
    };
    // (case, refusal, asking now, reported in status, seconds since, stands)
    let cases = [
        (
            "same everything, just now",
            refusal,
            Some(asked),
            true,
            0,
            true,
        ),
        ("just under a period", refusal, Some(asked), true, 599, true),
        (
            "a period on: the sweep asks again",
            refusal,
            Some(asked),
            true,
            600,
            false,
        ),
        ("spec changed", refusal, now_with(3, 7, 9), true, 0, false),
        (
            "source Secret changed",
            refusal,
            now_with(2, 8, 9),
            true,
            0,
            false,
        ),
        (
            "account changed",
            refusal,
            now_with(2, 7, 10),
            true,
            0,
            false,
        ),
        (
            "source Secret gone or unknown",
            refusal,
            None,
            true,
            0,
            false,
        ),
        (
            "status does not say so (unwritten, paused since)",
            refusal,
            Some(asked),
            false,
            0,
            false,
        ),
        ("never refused", None, Some(asked), true, 0, false),
    ];
    for (name, refusal, asking_now, reported, since, want) in cases {
        let now = at + Duration::from_secs(since);
        assert_eq!(
            key_refusal_stands(refusal, asking_now, reported, now, period),
            want,
            "{name}"
        );
    }
}
