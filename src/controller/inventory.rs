//! Drift read from lists: one listing of every app per account, service and instance (or
//! workspace), shared by all the objects there for half a resync period, instead of one read
//! per object. A listing keeps no secret and no remark, only what tells "as delivered" apart:
//! a hash of the remark and of the key.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ids::{IdKey, id_key};
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

/// What a listing keeps of an app, as its pages arrive (not the apps themselves: a listing of a
/// large instance would hold every app's strings at once).
pub fn listed(app: CloudApp) -> (IdKey, Listed) {
    (id_key(&app.id), Listed::of(&app))
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
    /// By app id as a 128-bit key (no string per app).
    apps: HashMap<IdKey, Listed>,
}

/// One account and place: its latest listing, and what decides when to take the next.
#[derive(Default)]
struct Place {
    listing: Option<Listing>,
    /// Calls the latest listing took.
    pages: usize,
    /// Lookups since the latest listing was taken (served by it, or read by id).
    asks: usize,
    /// A listing failed then: objects read by id until it is tried again.
    failed: Option<Instant>,
}

type Slot = Arc<tokio::sync::Mutex<Place>>;

/// What a lookup tells.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The listing shows the app so (`None`: not listed: gone, or made after the listing).
    Listed(Option<Listed>),
    /// No listing to ask (it failed, or a new one would cost more calls than it has been
    /// serving): read the app by id.
    Unlisted,
}

/// Pure: whether a place whose listing is missing or too old is listed again now. Not while a
/// failed listing is being held off; not while the lookups since the latest listing number
/// fewer than its calls (a big instance holding few of our apps: reading those by id is
/// cheaper, and a new listing is taken once enough lookups have paid for it).
fn list_again(place: &Place, now: Instant, hold: Duration) -> bool {
    if place.failed.is_some_and(|t| now.duration_since(t) < hold) {
        return false;
    }
    place.listing.is_none() || place.asks >= place.pages
}

/// The listings, one per account and place.
#[derive(Default)]
pub struct Inventory {
    slots: Mutex<HashMap<String, Slot>>,
}

impl Inventory {
    /// The slot of `key`; places not used for `2 * max_age` are dropped on the way (their
    /// listing could not serve anyone any more).
    fn slot(&self, key: &str, max_age: Duration) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|k, slot| {
            k == key
                || slot.try_lock().map_or(true, |p| {
                    let used = p.listing.as_ref().map(|l| l.taken).max(p.failed);
                    used.is_some_and(|t| t.elapsed() < 2 * max_age)
                })
        });
        slots.entry(key.to_string()).or_default().clone()
    }

    /// App `id` as the listing of `key` shows it: from a listing younger than `max_age`, or a
    /// new one taken with `list` (one at a time per key: the objects asking meanwhile wait for
    /// it; `page` apps per call). A failed listing is logged, held off for `max_age`, and the
    /// objects read by id meanwhile.
    pub async fn lookup<F, Fut>(
        &self,
        key: &str,
        id: &str,
        max_age: Duration,
        page: usize,
        list: F,
    ) -> Lookup
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<HashMap<IdKey, Listed>, CloudError>>,
    {
        let slot = self.slot(key, max_age);
        let mut place = slot.lock().await;
        let now = Instant::now();
        let fresh = place
            .listing
            .as_ref()
            .is_some_and(|l| now.duration_since(l.taken) < max_age);
        if !fresh && !list_again(&place, now, max_age) {
            place.asks += 1;
            return Lookup::Unlisted;
        }
        if !fresh {
            // Gone whether the listing succeeds or fails, and nobody reads it meanwhile (this
            // lock is held): not kept beside the new one while that is taken.
            place.listing = None;
            match list().await {
                Ok(apps) => {
                    place.pages = apps.len().div_ceil(page.max(1)).max(1);
                    place.asks = 0;
                    place.failed = None;
                    place.listing = Some(Listing { taken: now, apps });
                }
                Err(e) => {
                    // The key's account part is a hash of credentials: only the place is logged.
                    let place_name = key.rsplit('|').next().unwrap_or_default();
                    tracing::warn!(place = place_name, error = %e, "listing failed; reading apps by id until it is tried again");
                    place.failed = Some(now);
                    place.listing = None;
                    return Lookup::Unlisted;
                }
            }
        }
        place.asks += 1;
        Lookup::Listed(
            place
                .listing
                .as_ref()
                .and_then(|l| l.apps.get(&id_key(id)).copied()),
        )
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

    fn listed(found: bool) -> Lookup {
        Lookup::Listed(found.then(|| Listed::of(&app("a", "r", Some("k")))))
    }

    #[tokio::test]
    async fn one_listing_serves_every_lookup_until_it_is_too_old() {
        let inventory = Inventory::default();
        let lists = AtomicUsize::new(0);
        let list = || async {
            lists.fetch_add(1, Ordering::SeqCst);
            Ok(HashMap::from([
                super::listed(app("a", "r", Some("k"))),
                super::listed(app("b", "r", Some("k"))),
            ]))
        };
        let hour = Duration::from_secs(3600);
        let lookup = |key: &'static str, id: &'static str, age: Duration| {
            inventory.lookup(key, id, age, 500, list)
        };
        assert_eq!(lookup("p", "a", hour).await, listed(true));
        assert!(matches!(
            lookup("p", "b", hour).await,
            Lookup::Listed(Some(_))
        ));
        assert_eq!(lookup("p", "c", hour).await, listed(false), "not listed");
        assert_eq!(
            lists.load(Ordering::SeqCst),
            1,
            "one listing for three lookups"
        );
        lookup("q", "a", hour).await;
        assert_eq!(
            lists.load(Ordering::SeqCst),
            2,
            "another place, another listing"
        );
        lookup("p", "a", Duration::ZERO).await;
        assert_eq!(lists.load(Ordering::SeqCst), 3, "too old: listed again");
    }

    #[tokio::test]
    async fn a_failed_listing_sends_objects_to_read_by_id_and_is_held_off() {
        let inventory = Inventory::default();
        let hour = Duration::from_secs(3600);
        let tries = AtomicUsize::new(0);
        let failing = || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(CloudError::Decode {
                service: crate::cloud::Service::Apig,
                op: "list",
                detail: "refused".into(),
            })
        };
        for _ in 0..3 {
            assert_eq!(
                inventory.lookup("p", "a", hour, 500, failing).await,
                Lookup::Unlisted
            );
        }
        assert_eq!(
            tries.load(Ordering::SeqCst),
            1,
            "held off after one failure"
        );
        let ok = || async { Ok(HashMap::from([super::listed(app("a", "r", Some("k")))])) };
        assert_eq!(
            inventory.lookup("p", "a", Duration::ZERO, 500, ok).await,
            listed(true),
            "tried again once the hold is over"
        );
    }

    #[test]
    fn a_place_is_listed_again_when_its_lookups_have_paid_for_the_listing() {
        let now = Instant::now();
        let hold = Duration::from_secs(60);
        let place = |listing: bool, pages: usize, asks: usize, failed: Option<Duration>| Place {
            listing: listing.then(|| Listing {
                taken: now,
                apps: HashMap::new(),
            }),
            pages,
            asks,
            failed: failed.map(|ago| now - ago),
        };
        let cases = [
            ("never listed", place(false, 0, 0, None), true),
            ("one page, one lookup since", place(true, 1, 1, None), true),
            (
                "100 pages, 5 lookups since",
                place(true, 100, 5, None),
                false,
            ),
            (
                "100 pages, 100 lookups since",
                place(true, 100, 100, None),
                true,
            ),
            (
                "failed just now",
                place(false, 0, 0, Some(Duration::ZERO)),
                false,
            ),
            ("failed long ago", place(false, 0, 0, Some(2 * hold)), true),
        ];
        for (name, place, want) in cases {
            assert_eq!(list_again(&place, now, hold), want, "{name}");
        }
    }
}
