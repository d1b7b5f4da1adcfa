//! A subscriber of a shared reflector store reads each object from the store when it is polled;
//! if the object was deleted meanwhile (the last update before a deletion, say), kube-runtime's
//! handle returns `Pending` without arranging to be woken, and its later events wait until
//! something else wakes the controller. Polling it again on a slow tick while it is idle bounds
//! that delay at `TICK` for the cost of one cheap poll per tick.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;

/// How long a subscriber can stall at most.
const TICK: Duration = Duration::from_secs(1);

pub struct Rewoken<S> {
    inner: Pin<Box<S>>,
    tick: tokio::time::Interval,
}

pub fn rewoken<S: Stream>(inner: S) -> Rewoken<S> {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    Rewoken {
        inner: Box::pin(inner),
        tick,
    }
}

impl<S: Stream> Stream for Rewoken<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(item) => Poll::Ready(item),
            Poll::Pending => {
                // Arm the tick: it wakes this task even if the inner stream will not.
                while self.tick.poll_tick(cx).is_ready() {}
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    /// Yields 1, then returns `Pending` once without arranging a wake-up (as a subscriber does
    /// for a deleted object), then yields 2.
    struct Forgetful(u8);

    impl Stream for Forgetful {
        type Item = u8;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u8>> {
            self.0 += 1;
            match self.0 {
                1 => Poll::Ready(Some(1)),
                2 => Poll::Pending,
                3 => Poll::Ready(Some(2)),
                _ => Poll::Ready(None),
            }
        }
    }

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct Counter(std::sync::atomic::AtomicUsize);

    impl futures::task::ArcWake for Counter {
        fn wake_by_ref(arc_self: &std::sync::Arc<Self>) {
            arc_self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Polls `s` past its first item; then whether the task was woken within the bound.
    async fn woken_after_the_stall<S: Stream<Item = u8> + Unpin>(mut s: S) -> bool {
        let counter = std::sync::Arc::new(Counter::default());
        let waker = futures::task::waker(counter.clone());
        let mut cx = Context::from_waker(&waker);
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Ready(Some(1)));
        assert_eq!(s.poll_next_unpin(&mut cx), Poll::Pending);
        tokio::time::sleep(TICK * 3 / 2).await;
        let woken = counter.0.load(std::sync::atomic::Ordering::SeqCst) > 0;
        if woken {
            assert_eq!(s.poll_next_unpin(&mut cx), Poll::Ready(Some(2)));
        }
        woken
    }

    #[tokio::test]
    async fn a_stream_that_forgets_to_wake_is_polled_again() {
        assert!(
            !woken_after_the_stall(Forgetful(0)).await,
            "the bare stream never wakes its task"
        );
        assert!(woken_after_the_stall(rewoken(Forgetful(0))).await);
    }
}
