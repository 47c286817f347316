//! The lease row's statements. Every time in them is the database's `now()`.

use crate::clock::BootInstant;

use chrono::{DateTime, Utc};

use super::Postgres;
use crate::store::{Election, Lease, LeaseHolder, StoreError};

impl Postgres {
    pub(super) fn lease_or_err(&self) -> Result<&Lease, StoreError> {
        self.lease.as_ref().ok_or_else(|| StoreError::NotLeader {
            db: self.name.clone(),
            epoch: 0,
        })
    }
}

impl crate::store::lease::Leased for Postgres {
    /// Takes the lease when it is free, expired, or this instance's own; otherwise says who
    /// holds it. A takeover increments the epoch.
    async fn elect(&self) -> Result<Election, StoreError> {
        let lease = self.lease_or_err()?;
        let (asked, duration) = (BootInstant::now(), lease.duration());
        let epoch: Option<i64> = sqlx::query_scalar(
            "INSERT INTO lease (app_id, holder, epoch, expires_at, acquired_at)
             VALUES ($1, $2, 1, now() + make_interval(secs => $3), now())
             ON CONFLICT (app_id) DO UPDATE
               SET holder = excluded.holder, epoch = lease.epoch + 1,
                   expires_at = excluded.expires_at, acquired_at = excluded.acquired_at
               WHERE lease.expires_at <= now() OR lease.holder = excluded.holder
             RETURNING epoch",
        )
        .bind(lease.app_id())
        .bind(lease.me())
        .bind(duration.as_secs_f64())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("take the lease"))?;
        if let Some(epoch) = epoch {
            lease.granted(epoch, asked, duration);
            return Ok(Election::Active { epoch });
        }
        lease.step_down();
        match self.lease_holder(lease.app_id()).await? {
            Some(holder) => Ok(Election::Standby(holder)),
            // Released between the two statements: the next look takes it.
            None => Ok(Election::Standby(LeaseHolder {
                holder: "nobody".into(),
                epoch: 0,
                expires_at: DateTime::<Utc>::UNIX_EPOCH,
                expired: true,
            })),
        }
    }

    /// Extends the lease this instance holds; false when it no longer holds it (taken over, or
    /// expired by the database's clock).
    async fn renew(&self) -> Result<bool, StoreError> {
        let lease = self.lease_or_err()?;
        let epoch = lease.epoch();
        if epoch == 0 {
            return Ok(false);
        }
        let (asked, duration) = (BootInstant::now(), lease.duration());
        let renewed = sqlx::query(
            "UPDATE lease SET expires_at = now() + make_interval(secs => $4)
             WHERE app_id = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()",
        )
        .bind(lease.app_id())
        .bind(lease.me())
        .bind(epoch)
        .bind(duration.as_secs_f64())
        .execute(&self.pool)
        .await
        .map_err(self.err("renew the lease"))?
        .rows_affected()
            == 1;
        if renewed {
            lease.granted(epoch, asked, duration);
        }
        Ok(renewed)
    }

    /// Gives the lease up at a clean stop, so a standby need not wait for it to expire.
    async fn release(&self) -> Result<(), StoreError> {
        let lease = self.lease_or_err()?;
        let epoch = lease.epoch();
        lease.step_down();
        sqlx::query(
            "UPDATE lease SET expires_at = now() WHERE app_id = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(lease.app_id())
        .bind(lease.me())
        .bind(epoch)
        .execute(&self.pool)
        .await
        .map_err(self.err("release the lease"))?;
        Ok(())
    }

    async fn lease_holder(&self, app_id: &str) -> Result<Option<LeaseHolder>, StoreError> {
        let row: Option<(String, i64, DateTime<Utc>, bool)> = sqlx::query_as(
            "SELECT holder, epoch, expires_at, expires_at <= now() FROM lease WHERE app_id = $1",
        )
        .bind(app_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err("read the lease"))?;
        Ok(row.map(|(holder, epoch, expires_at, expired)| LeaseHolder {
            holder,
            epoch,
            expires_at,
            expired,
        }))
    }
}
