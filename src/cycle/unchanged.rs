//! A listing the same as the user's last complete one (see `store::fingerprints`): recognised page
//! by page from the hash of each answer, without decoding anything.

use chrono::{DateTime, Utc};

use super::sync::{ListingDone, ListingSide};
use super::{CycleError, CycleReport, Engine};
use crate::config::User;
use crate::feishu::{FeishuError, PAGE_SIZE, RawPage};
use crate::store::{CompleteListing, ListingFingerprint};

impl Engine {
    /// Lists `user` against the fingerprint of their last complete listing, page by page. `None`
    /// when every page is the same; otherwise the pages read so far, the last one different.
    pub(super) async fn list_unchanged(
        &self,
        user: &User,
        fingerprint: &ListingFingerprint,
    ) -> Result<Option<Vec<RawPage>>, FeishuError> {
        let mut read = Vec::new();
        if fingerprint.pages.is_empty() {
            return Ok(Some(read));
        }
        for (i, hash) in fingerprint.pages.iter().enumerate() {
            let page = self
                .client
                .query_page(&user.id, i as u64 * PAGE_SIZE, None, Some(*hash))
                .await?;
            let same = page.hash() == *hash;
            read.push(page);
            if !same {
                return Ok(Some(read));
            }
        }
        Ok(None)
    }

    /// A user whose listing is the same as last time, byte for byte: it holds the same tasks,
    /// stored as they are. What the last listing lacked is lacked again, and finished.
    pub(super) async fn unchanged(
        &self,
        user: &User,
        fingerprint: ListingFingerprint,
        listing_started: DateTime<Utc>,
        state: &mut ListingSide,
        report: &mut CycleReport,
    ) -> Result<ListingDone, CycleError> {
        tracing::debug!(user = %user.id, "listing unchanged since the last one");
        report.users_listed += 1;
        let may_be_due = fingerprint.oldest_start <= state.oldest_due_start;
        let ListingFingerprint {
            pages,
            tasks,
            oldest_start,
            missing,
        } = fingerprint;
        let fingerprint = if missing > 0 {
            let gone = self.store.missing_tasks(&user.id).await?;
            let missing = self
                .record_absent(&user.id, &gone, listing_started, report)
                .await?;
            Some(ListingFingerprint {
                pages,
                tasks: tasks.clone(),
                oldest_start,
                missing,
            })
        } else {
            // The stored fingerprint still holds.
            None
        };
        state.listed.push(CompleteListing {
            user: user.id.clone(),
            at: listing_started,
            fingerprint,
        });
        state.tasks_seen.extend(tasks);
        if may_be_due {
            self.flush(&mut state.pending, report).await?;
        }
        Ok(ListingDone {
            user: user.id.clone(),
            may_be_due,
            complete_at: Some(listing_started),
        })
    }
}
