//! Drift read from lists: one listing of every app per account, service and instance (or
//! workspace), shared by all the objects there for half a resync period, instead of one read
//! per object. A listing keeps no secret and no remark, only what tells "as delivered" apart:
//! a hash of the remark and of the key.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::backend::CloudApp;
use crate::cloud::CloudError;

/// A hash of a remark or a key, compared within this process only.
pub fn text_hash(text: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(text)
}

/// What a listing shows of one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub remark: u64,
    /// `None` where the list shows no key.
    pub key: Option<u64>,
}

impl Listed {
    fn of(app: &CloudApp) -> Self {
        Self {
            remark: text_hash(app.remark.as_deref().unwrap_or_default()),
            key: app.key.as_deref().map(text_hash),
        }
    }
}

struct Listing {
    taken: Instant,
    apps: HashMap<Box<str>, Listed>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Listing>>>;

/// The listings, one per account and place.
#[derive(Default)]
pub struct Inventory {
    slots: Mutex<HashMap<String, Slot>>,
}

impl Inventory {
    fn slot(&self, key: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(key.to_string()).or_default().clone()
    }

    /// App `id` as the listing of `key` shows it: from a listing younger than `max_age`, or a
    /// new one taken with `list` (one at a time per key: the objects asking meanwhile wait for
    /// it). `None`: the listing does not show it (gone, or made after the listing was taken).
    pub async fn lookup<F, Fut>(
        &self,
        key: &str,
        id: &str,
        max_age: Duration,
        list: F,
    ) -> Result<Option<Listed>, CloudError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<CloudApp>, CloudError>>,
    {
        let slot = self.slot(key);
        let mut listing = slot.lock().await;
        if listing
            .as_ref()
            .is_none_or(|l| l.taken.elapsed() >= max_age)
        {
            let taken = Instant::now();
            let apps = list().await?;
            *listing = Some(Listing {
                taken,
                apps: apps
                    .iter()
                    .map(|a| (a.id.as_str().into(), Listed::of(a)))
                    .collect(),
            });
        }
        Ok(listing.as_ref().and_then(|l| l.apps.get(id).copied()))
    }
}

/// Pure: whether a listed app is exactly as this object last left it: the remark this object
/// would write (its description and current fingerprint) and the key its Secret holds.
/// Anything else (another description, an older or another fingerprint, a key the list does not
/// show) is read by id, where the full drift check decides.
pub fn as_delivered(listed: &Listed, want_remark: &str, delivered_key: u64) -> bool {
    listed.remark == text_hash(want_remark) && listed.key == Some(delivered_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn app(id: &str, remark: &str, key: Option<&str>) -> CloudApp {
        CloudApp {
            id: id.into(),
            name: id.into(),
            remark: Some(remark.into()),
            key: key.map(str::to_string),
            secret: None,
        }
    }

    #[test]
    fn as_delivered_needs_the_same_remark_and_key() {
        let listed = Listed::of(&app("a", "orders [appauth:x/y]", Some("k")));
        let key = text_hash("k");
        let cases = [
            ("same", "orders [appauth:x/y]", key, true),
            ("description changed", "payments [appauth:x/y]", key, false),
            ("another fingerprint", "orders [appauth:x/z]", key, false),
            (
                "another key",
                "orders [appauth:x/y]",
                text_hash("k2"),
                false,
            ),
        ];
        for (name, remark, key, want) in cases {
            assert_eq!(as_delivered(&listed, remark, key), want, "{name}");
        }
        let keyless = Listed::of(&app("a", "orders [appauth:x/y]", None));
        assert!(
            !as_delivered(&keyless, "orders [appauth:x/y]", key),
            "a list without keys cannot tell"
        );
    }

    #[tokio::test]
    async fn one_listing_serves_every_lookup_until_it_is_too_old() {
        let inventory = Inventory::default();
        let lists = AtomicUsize::new(0);
        let list = || async {
            lists.fetch_add(1, Ordering::SeqCst);
            Ok(vec![app("a", "r", Some("k")), app("b", "r", Some("k"))])
        };
        let hour = Duration::from_secs(3600);
        assert!(
            inventory
                .lookup("p", "a", hour, list)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            inventory
                .lookup("p", "b", hour, list)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(inventory.lookup("p", "c", hour, list).await.unwrap(), None);
        assert_eq!(
            lists.load(Ordering::SeqCst),
            1,
            "one listing for three lookups"
        );
        inventory.lookup("q", "a", hour, list).await.unwrap();
        assert_eq!(
            lists.load(Ordering::SeqCst),
            2,
            "another place, another listing"
        );
        inventory
            .lookup("p", "a", Duration::ZERO, list)
            .await
            .unwrap();
        assert_eq!(lists.load(Ordering::SeqCst), 3, "too old: listed again");
    }

    #[tokio::test]
    async fn a_failed_listing_is_an_error_and_not_kept() {
        let inventory = Inventory::default();
        let hour = Duration::from_secs(3600);
        let failing = || async {
            Err(CloudError::Decode {
                service: crate::cloud::Service::Apig,
                op: "list",
                detail: "refused".into(),
            })
        };
        assert!(inventory.lookup("p", "a", hour, failing).await.is_err());
        let ok = || async { Ok(vec![app("a", "r", Some("k"))]) };
        assert!(
            inventory
                .lookup("p", "a", hour, ok)
                .await
                .unwrap()
                .is_some()
        );
    }
}
