//! Telling the daemon to stop: a [`Trigger`] fires once, every [`Shutdown`] (cloned for each
//! loop that waits) sees it. Like mini-redis's `Shutdown`: a loop checks
//! [`Shutdown::is_shutdown`] between steps and races [`Shutdown::recv`] in each `select!`
//! that waits (IDLE, a poll's sleep, a reconnect's backoff), so SIGINT/SIGTERM stops the
//! daemon after the batch in hand, never in the middle of one.

use tokio::sync::watch;

/// The sending side: fires the shutdown (once is enough; again changes nothing).
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

/// The receiving side, one per waiting loop.
#[derive(Debug, Clone)]
pub struct Shutdown {
    /// Seen fired by this receiver (once true, stays true).
    fired: bool,
    /// Carries `true` once the trigger fired.
    notify: watch::Receiver<bool>,
}

/// A trigger and the first receiver of it.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (
        Trigger(tx),
        Shutdown {
            fired: false,
            notify: rx,
        },
    )
}

/// A [`Shutdown`] that fires on SIGINT (Ctrl-C) or SIGTERM. Must be called inside a tokio
/// runtime: a task of its own waits for the signal.
pub fn on_signals() -> Shutdown {
    let (trigger, shutdown) = channel();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("Shutting down after the mail in hand");
        trigger.fire();
    });
    shutdown
}

impl Trigger {
    /// Tells every [`Shutdown`] of this trigger to stop.
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// Has the shutdown fired (or its trigger gone away, so that nothing could fire it)?
    pub fn is_shutdown(&mut self) -> bool {
        if !self.fired {
            // `has_changed` fails only when the trigger is gone.
            self.fired = *self.notify.borrow() || self.notify.has_changed().is_err();
        }
        self.fired
    }

    /// Waits until the shutdown fires; at once when it has. A trigger dropped without firing
    /// counts as fired (as in mini-redis): no one is left to stop the daemon otherwise, and a
    /// `select!` on a closed channel would spin.
    pub async fn recv(&mut self) {
        if self.is_shutdown() {
            return;
        }
        // `wait_for` sees a value sent before this call too; Err = the trigger is gone.
        let _ = self.notify.wait_for(|fired| *fired).await;
        self.fired = true;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// `recv` finished within a short while (it must not wait for anything else).
    async fn fires_soon(s: &mut Shutdown) -> bool {
        tokio::time::timeout(Duration::from_millis(200), s.recv())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn recv_waits_until_the_trigger_fires() {
        let (trigger, mut s) = channel();
        assert!(!s.is_shutdown());
        assert!(!fires_soon(&mut s).await, "nothing fired yet");
        trigger.fire();
        assert!(fires_soon(&mut s).await);
        assert!(s.is_shutdown());
    }

    #[tokio::test]
    async fn every_clone_sees_the_shutdown_even_one_made_after_it_fired() {
        let (trigger, s) = channel();
        let mut early = s.clone();
        let waiter = tokio::spawn(async move {
            early.recv().await;
            early.is_shutdown()
        });
        trigger.fire();
        let mut late = s.clone();
        assert!(late.is_shutdown(), "a receiver made after the fire");
        assert!(fires_soon(&mut late).await);
        let seen = tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("the waiting clone woke up")
            .expect("the task ran");
        assert!(seen);
    }

    #[tokio::test]
    async fn a_fired_shutdown_stays_fired_and_recv_returns_at_once_each_time() {
        let (trigger, mut s) = channel();
        trigger.fire();
        trigger.fire();
        for _ in 0..3 {
            assert!(fires_soon(&mut s).await);
            assert!(s.is_shutdown());
        }
    }

    #[tokio::test]
    async fn a_dropped_trigger_counts_as_fired_instead_of_spinning_select() {
        let (trigger, mut s) = channel();
        drop(trigger);
        assert!(s.is_shutdown());
        assert!(fires_soon(&mut s).await);
        let (trigger, mut s) = channel();
        let waiter = tokio::spawn(async move {
            s.recv().await;
            s.is_shutdown()
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(trigger);
        let seen = tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("woke up when the trigger went away")
            .expect("the task ran");
        assert!(seen);
    }

    #[tokio::test]
    async fn recv_loses_the_race_to_a_ready_branch_until_it_fires() {
        let (trigger, mut s) = channel();
        let mut ticks = 0;
        for round in 0..4 {
            if round == 2 {
                trigger.fire();
            }
            tokio::select! {
                biased;
                _ = s.recv() => break,
                _ = tokio::time::sleep(Duration::from_millis(5)) => ticks += 1,
            }
        }
        assert_eq!(ticks, 2, "two sleeps, then the shutdown won");
    }
}
