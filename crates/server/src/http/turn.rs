//! A turn for the other tasks ready on this thread, and a way to know it is over.
//!
//! A body that gathers bytes from another task (hyper's client connection hands over one
//! frame at a time) wants that task to run before it decides nothing more is at hand. A
//! plain self-wake is not enough: hyper polls a body again in the same task run when its
//! flush went through, so the body cannot tell a re-poll from its next turn. tokio's
//! `yield_now` defers its wake until the scheduler has run the tasks already waiting; the
//! turn hands it a waker that notes when that happens.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Wake, Waker};

pub struct Turn(Arc<Noted>);

struct Noted {
    over: AtomicBool,
    task: Waker,
}

impl Wake for Noted {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.over.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

impl Turn {
    /// Lets the tasks waiting on this thread run; the current task is woken after them.
    pub fn give(cx: &Context<'_>) -> Turn {
        let noted = Arc::new(Noted {
            over: AtomicBool::new(false),
            task: cx.waker().clone(),
        });
        let waker = Waker::from(noted.clone());
        // Outside a runtime `yield_now` wakes at once: the turn is simply over.
        let _ = pin!(tokio::task::yield_now()).poll(&mut Context::from_waker(&waker));
        Turn(noted)
    }

    pub fn over(&self) -> bool {
        self.0.over.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::task::Poll;

    #[tokio::test(flavor = "current_thread")]
    async fn a_turn_ends_after_the_tasks_already_waiting() {
        let ran = Arc::new(AtomicBool::new(false));
        let other = {
            let ran = ran.clone();
            tokio::spawn(async move { ran.store(true, Ordering::SeqCst) })
        };
        let mut turn = None;
        poll_fn(|cx| {
            let t = turn.get_or_insert_with(|| Turn::give(cx));
            if t.over() {
                Poll::Ready(())
            } else {
                // Polled again before the turn: the other task has not run yet.
                assert!(!ran.load(Ordering::SeqCst));
                Poll::Pending
            }
        })
        .await;
        assert!(ran.load(Ordering::SeqCst));
        other.await.unwrap();
    }
}
