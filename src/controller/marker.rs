//! The pending marker: written with the finalizer before a cloud create, so that
//! after any crash the operator knows a create may have happened and looks before creating.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMarker {
    /// Cloud name the create uses.
    pub name: String,
    /// When the marker was written (RFC 3339).
    pub time: DateTime<Utc>,
    /// The operator process that wrote it.
    pub instance: String,
    /// The uid of the object it was written on. The marker stays on the object after the create
    /// (clearing it would cost a write per new app), so an object restored from a backup (a new
    /// uid) still says which object's fingerprint its app carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
}

impl PendingMarker {
    pub fn parse(value: &str) -> Option<Self> {
        serde_json::from_str(value).ok()
    }

    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The object this marker was written on, when that is not `uid`: the object carrying it
    /// is a restore (or a copy) of that one.
    pub fn written_on_other(&self, uid: &str) -> Option<&str> {
        self.object
            .as_deref()
            .filter(|o| !o.is_empty() && *o != uid)
    }
}

/// May a create run now, given that a lookup by name found nothing?
/// A marker from this process (with no create of ours still unresolved) is safe at once; a
/// marker from another process (a deposed leader, or this one before a crash) only after the
/// request timeout plus the lease duration, so a create still in flight cannot make a twin.
pub fn may_create(
    marker: &PendingMarker,
    own_instance: &str,
    own_unresolved: bool,
    now: DateTime<Utc>,
    grace: std::time::Duration,
) -> Result<(), std::time::Duration> {
    if marker.instance == own_instance && !own_unresolved {
        return Ok(());
    }
    let age = (now - marker.time).to_std().unwrap_or_default();
    if age >= grace {
        Ok(())
    } else {
        Err(grace - age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).expect("time")
    }

    #[test]
    fn round_trip() {
        let m = PendingMarker {
            name: "app_x".into(),
            time: at(1000),
            instance: "pod-1/abc".into(),
            object: Some("u-1".into()),
        };
        assert_eq!(PendingMarker::parse(&m.to_annotation()), Some(m.clone()));
        // Markers written before the object was recorded still parse.
        let old = r#"{"name":"app_x","time":"1970-01-01T00:16:40Z","instance":"pod-1/abc"}"#;
        assert_eq!(
            PendingMarker::parse(old),
            Some(PendingMarker { object: None, ..m })
        );
        assert_eq!(PendingMarker::parse("garbage"), None);
    }

    #[test]
    fn a_marker_written_on_another_object_names_it() {
        let m = |object: Option<&str>| PendingMarker {
            name: "a".into(),
            time: at(0),
            instance: "i".into(),
            object: object.map(str::to_string),
        };
        let cases = [
            ("written on this object", m(Some("u-1")), None),
            (
                "written on another (a restore)",
                m(Some("u-0")),
                Some("u-0"),
            ),
            ("written before objects were recorded", m(None), None),
            ("empty", m(Some("")), None),
        ];
        for (name, marker, want) in cases {
            assert_eq!(marker.written_on_other("u-1"), want, "{name}");
        }
    }

    #[test]
    fn foreign_markers_wait_for_the_grace_period() {
        let m = PendingMarker {
            name: "a".into(),
            time: at(1000),
            instance: "other".into(),
            object: None,
        };
        let grace = Duration::from_secs(25);
        assert_eq!(
            may_create(&m, "me", false, at(1010), grace),
            Err(Duration::from_secs(15))
        );
        assert_eq!(may_create(&m, "me", false, at(1025), grace), Ok(()));
        let own = PendingMarker {
            instance: "me".into(),
            ..m.clone()
        };
        assert_eq!(may_create(&own, "me", false, at(1001), grace), Ok(()));
        assert!(
            may_create(&own, "me", true, at(1001), grace).is_err(),
            "our own create timed out: wait too"
        );
    }
}
