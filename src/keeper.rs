//! Keeping the PostgreSQL lease (see `store::lease`): the holder renews it every third of its
//! length; a standby looks as often and takes it over once it has expired. What operators see:
//! a line when this instance becomes active (with its epoch) and when it stands by (who holds
//! the lease, until when), and the gauges `expediter_active` and `expediter_lease_epoch`.

use tokio::time::MissedTickBehavior;

use crate::clock::Clock;
use crate::domain::Family;
use crate::store::{Election, LeaseHolder, Store};

/// What the keeper last told the operator, so each change is logged once.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Told {
    Active(i64),
    Standby(LeaseHolder),
    /// The database said no to a renewal of this epoch.
    Lost(i64),
    /// The database could not be asked.
    Failing,
}

/// Starts keeping `store`'s lease until the store is closed. `elected` is the first election's
/// result, already acted on by the caller.
pub fn spawn_keeper(store: &Store, clock: &Clock, elected: &Election) {
    let Some(lease) = store.lease().cloned() else {
        return;
    };
    let told = match elected {
        Election::Active { epoch } => Told::Active(*epoch),
        Election::Standby(h) => Told::Standby(h.clone()),
    };
    publish(store);
    let (store2, clock) = (store.clone(), clock.clone());
    let handle = tokio::spawn(async move {
        let mut told = told;
        let mut period = lease.interval();
        let mut every = tokio::time::interval(period);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            if lease.interval() != period {
                // A reload changed the lease's length: renew (or look) at a third of the new one.
                period = lease.interval();
                every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                every.set_missed_tick_behavior(MissedTickBehavior::Delay);
            }
            let now = if lease.epoch() > 0 {
                renew(&store2).await
            } else {
                elect(&store2, &clock).await
            };
            if !now.same(&told) {
                tell(&now, &store2);
                told = now;
            }
            publish(&store2);
        }
    });
    if let Some(lease) = store.lease() {
        lease.set_keeper(handle.abort_handle());
    }
}

/// The holder's turn: renew, or stop acting at once.
async fn renew(store: &Store) -> Told {
    let Some(lease) = store.lease() else {
        return Told::Failing;
    };
    let epoch = lease.epoch();
    match store.renew().await {
        Ok(true) if lease.acting() => Told::Active(epoch),
        Ok(true) => {
            // Renewed, but the answer came after this instance stopped trusting the lease: it
            // is still the holder by the database, so it acts again from here.
            tracing::warn!(
                epoch,
                "the lease was renewed late (after this instance had stopped acting); acting again"
            );
            Told::Active(epoch)
        }
        Ok(false) => {
            lease.step_down();
            Told::Lost(epoch)
        }
        Err(e) => {
            lease.step_down();
            tracing::warn!(
                epoch,
                "could not renew the lease; stopped acting, standing by: {e}"
            );
            Told::Failing
        }
    }
}

/// A call an earlier process left without an outcome, settled as unknown: said by its kind (a
/// move is not "an expedite").
pub fn log_settled(e: &crate::store::ExpediteRecord, why: &str) {
    tracing::warn!(task_id = %e.task_id, kind = %e.kind, assignees = ?e.assignees, rule = %e.rule,
    "{} outcome unknown: {why}; counted as {}, not repeated",
    e.kind,
    match crate::domain::family_of(&e.kind) {
        Some(Family::Reminder) => "sent",
        Some(Family::Escalation | Family::Move) | None => "done",
    });
}

/// A standby's turn: take the lease over if it expired.
async fn elect(store: &Store, clock: &Clock) -> Told {
    match store.elect().await {
        Ok(Election::Active { epoch }) => {
            // Calls the previous holder left without an outcome: unknown, counted as sent.
            match store.settle_unfinished_intents(clock.now()).await {
                Ok(open) => {
                    for e in open {
                        log_settled(&e, "the previous active instance stopped during the call");
                    }
                }
                Err(e) => {
                    tracing::error!("could not settle the previous instance's open intents: {e}")
                }
            }
            Told::Active(epoch)
        }
        Ok(Election::Standby(h)) => Told::Standby(h),
        Err(e) => {
            tracing::debug!("cannot read the lease: {e}");
            Told::Failing
        }
    }
}

impl Told {
    /// The same news: a standby's holder renewing its lease is not worth a line.
    fn same(&self, other: &Told) -> bool {
        match (self, other) {
            (Told::Standby(a), Told::Standby(b)) => a.holder == b.holder && a.epoch == b.epoch,
            _ => self == other,
        }
    }
}

fn tell(now: &Told, store: &Store) {
    match now {
        Told::Active(epoch) => tracing::info!(epoch, database = %store.name(),
            "this instance is now the active one (lease epoch {epoch}): it lists, sends and posts digests"),
        Told::Standby(h) => tracing::info!(holder = %h.holder, epoch = h.epoch,
            "standing by: {}; this instance takes over if it runs out", holder_words(h)),
        Told::Lost(epoch) => tracing::warn!(
            epoch,
            "lost the lease (epoch {epoch}): another instance took over, or it ran out; stopped acting, standing by"
        ),
        Told::Failing => tracing::warn!(database = %store.name(),
            "cannot reach the lease in the database; standing by until it can"),
    }
}

/// The first election in words, for the caller's start line.
pub fn describe(elected: &Election) -> String {
    match elected {
        Election::Active { epoch } => format!("active (lease epoch {epoch})"),
        Election::Standby(h) => format!("standing by: {}", holder_words(h)),
    }
}

/// Who holds a lease, until when.
pub fn holder_words(h: &LeaseHolder) -> String {
    if h.expired {
        format!(
            "the lease (epoch {}) ran out at {}; held last by {}",
            h.epoch,
            h.expires_at.to_rfc3339(),
            h.holder
        )
    } else {
        format!(
            "{} holds the lease (epoch {}) until {}",
            h.holder,
            h.epoch,
            h.expires_at.to_rfc3339()
        )
    }
}

/// The gauges: `expediter_active` (always 1 on SQLite) and, on PostgreSQL, the epoch held.
pub fn publish(store: &Store) {
    crate::prometheus::active(store.acting());
    if let Some(lease) = store.lease() {
        crate::prometheus::lease_epoch(lease.epoch());
    }
}
