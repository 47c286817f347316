//! The listing side of a cycle: every watched user on every listing they need, pages stored
//! as they come, absent tasks marked missing or finished, each user handed to the sending side.

use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::mpsc;

use super::cadence::ToList;
use super::{CycleError, CycleReport, Engine};
use crate::config::{Config, User};
use crate::domain::decide;
use crate::feishu::{FeishuError, PAGE_SIZE, RawPage};
use crate::store::{CompleteListing, ListedAssignment, ListingFingerprint, StoreError, StoredTask};

/// Listed tasks are written in transactions of about this many rows (several users' pages):
/// one round trip to SQLite per batch rather than per page.
const WRITE_BATCH: usize = 4000;

/// A listing whose answers give no count pages until a short page, at most this many pages
/// (10,000 tasks); past that it has failed.
const MAX_UNCOUNTED_PAGES: usize = 200;

/// Has a listing's end been seen after a page of `listed` raw entries, with `offset` the next
/// page's start? A short page is the end; so is an offset past a count the answer gave.
fn end_seen(listed: usize, offset: u64, count: Option<u64>) -> bool {
    (listed as u64) < PAGE_SIZE || count.is_some_and(|c| offset >= c)
}

/// How many times a listing whose total moved while it was paged is read again.
const MAX_LISTING_PASSES: usize = 3;

impl Engine {
    /// The listing side of a cycle: every user in turn, each handed to the expediting side
    /// once listed.
    pub(super) async fn list_all(
        &self,
        listed_tx: mpsc::UnboundedSender<ListingDone>,
        only: Option<&ToList>,
    ) -> Result<CycleReport, CycleError> {
        let mut report = CycleReport::default();
        // A listing the same as last time is recognised by its fingerprint; only the unfiltered
        // listing has one, so only configurations with no other listing use them.
        let fingerprints = if listing_flows(&self.config) == [None] {
            self.store.listing_fingerprints().await?
        } else {
            FxHashMap::default()
        };
        // What is stored for each user, for the users whose listing changed: read at once when
        // most users have no fingerprint (a first cycle), else per user, when needed.
        let snapshots = if fingerprints.len() * 2 < self.config.users.len() {
            Some(self.store.all_snapshots().await?)
        } else {
            None
        };
        // About as many tasks as last time are seen: room for them up front.
        let expected: usize = fingerprints.values().map(|d| d.tasks.len()).sum();
        let mut state = ListingSide {
            cycle_started: self.clock.now(),
            oldest_due_start: self.oldest_possible_due_start(),
            snapshots,
            fingerprints,
            tasks_seen: FxHashSet::with_capacity_and_hasher(expected, Default::default()),
            listed: Vec::new(),
            pending: Vec::new(),
        };
        for user in &self.config.users {
            if self.stop_requested() {
                break;
            }
            let why = match only {
                None => None,
                Some(only) => match only.get(&user.id) {
                    Some(why) => Some(*why),
                    None => {
                        report.users_not_due += 1;
                        continue;
                    }
                },
            };
            if let Some(why) = why {
                tracing::debug!(user = %user.id, why = why.as_str(), "listing due");
            }
            let listed = self.list_user(user, &mut state, &mut report).await?;
            // The expediting side may have ended already (it failed, and this side is about to
            // be dropped): nothing to hand over then.
            let _ = listed_tx.send(listed);
        }
        // Fingerprints are written after every write of the listings they describe.
        self.flush(&mut state.pending, &mut report).await?;
        self.store.record_listings(&state.listed).await?;
        report.tasks_seen = state.tasks_seen.len() as u64;
        Ok(report)
    }

    /// Lists one user on every listing it needs (unfiltered, and one per flow set); stores pages as they come. A user whose
    /// listing failed anywhere keeps all their tasks as they were.
    async fn list_user(
        &self,
        user: &User,
        state: &mut ListingSide,
        report: &mut CycleReport,
    ) -> Result<ListingDone, CycleError> {
        let listing_started = self.clock.now();
        let mut prefetched = Vec::new();
        if let Some(fingerprint) = state.fingerprints.remove(&user.id) {
            match self.list_unchanged(user, &fingerprint).await {
                Ok(None) => {
                    return self
                        .unchanged(user, fingerprint, listing_started, state, report)
                        .await;
                }
                Ok(Some(pages)) => prefetched = pages,
                Err(e) if e.stops_cycle() => return Err(CycleError::Feishu(e)),
                Err(e) => {
                    listing_failed(user, &e);
                    report.users_failed += 1;
                    return Ok(ListingDone {
                        user: user.id.clone(),
                        may_be_due: fingerprint.oldest_start <= state.oldest_due_start,
                        complete_at: None,
                    });
                }
            }
        }
        let ListingSide {
            cycle_started,
            oldest_due_start,
            snapshots,
            tasks_seen,
            listed: listed_users,
            pending,
            ..
        } = state;
        let oldest_due_start = *oldest_due_start;
        // What is stored for this user: pages that bring nothing new are not written.
        let stored = match snapshots {
            Some(all) => all.remove(&user.id).unwrap_or_default(),
            None => self.store.snapshot_of(&user.id).await?,
        };
        let mut seen: FxHashSet<String> = FxHashSet::default();
        // Every task any pass listed: one a re-read no longer shows has finished meanwhile.
        let mut listed_any: FxHashSet<String> = FxHashSet::default();
        // Could any of this user's tasks be due? Only tasks old enough can (new ones are decided
        // at the end of the cycle anyway).
        let mut may_be_due = stored.values().any(|t| t.started <= oldest_due_start);
        // The earliest start among tasks new to this user (unknown starts count as earliest).
        let mut oldest_new: Option<DateTime<Utc>> = None;
        // The unfiltered listing's page hashes, when it was the only listing and complete.
        let mut pages: Option<Vec<u64>> = None;
        let mut complete = true;
        // What the unfiltered listing held, when it ran first and completely this cycle.
        let mut unfiltered: Option<FxHashSet<String>> = None;
        let flows = listing_flows(&self.config);
        let filtered_follow = flows.len() > 1;
        let only_unfiltered = flows == [None];
        for api_ids in flows {
            let flow_set = api_ids.as_deref().map(decide::flow_set_of);
            if let (Some(key), Some(all)) = (&flow_set, &unfiltered) {
                // A filtered listing only tells which tasks are of its flows. When that is
                // already known for every task this user has, it cannot change any decision.
                let known = self.store.known_flow_membership(all, key).await?;
                if known == all.len() {
                    tracing::debug!(user = %user.id, flows = %key, "flow of every task known; filtered listing skipped");
                    report.listings_skipped += 1;
                    continue;
                }
            }
            let mut stream_seen = FxHashSet::default();
            match self
                .list_stream(
                    user,
                    api_ids.as_deref(),
                    std::mem::take(&mut prefetched),
                    &stored,
                    &mut stream_seen,
                    &mut listed_any,
                    &mut oldest_new,
                    pending,
                    report,
                )
                .await
            {
                Ok(Some(hashes)) => {
                    if only_unfiltered {
                        pages = Some(hashes);
                    }
                    match (&flow_set, &unfiltered) {
                        // Filtered listings that follow compare against what this one held.
                        (None, _) if filtered_follow => unfiltered = Some(stream_seen.clone()),
                        (None, _) => {}
                        (Some(key), Some(all)) => {
                            let outside: Vec<String> =
                                all.difference(&stream_seen).cloned().collect();
                            // Flow knowledge refers to stored tasks.
                            self.flush(pending, report).await?;
                            self.store
                                .record_non_members(&outside, key, *cycle_started)
                                .await?;
                        }
                        (Some(_), None) => {}
                    }
                    seen.extend(stream_seen);
                }
                Ok(None) => {
                    complete = false;
                    seen.extend(stream_seen);
                }
                Err(ListError::Store(e)) => return Err(e.into()),
                Err(ListError::Feishu(e)) if e.stops_cycle() => return Err(CycleError::Feishu(e)),
                Err(ListError::Feishu(e)) => {
                    listing_failed(user, &e);
                    complete = false;
                    break;
                }
            }
        }
        may_be_due |= oldest_new.is_some_and(|s| s <= oldest_due_start);
        if complete {
            report.users_listed += 1;
            let gone: Vec<String> = stored
                .keys()
                .chain(listed_any.iter().filter(|t| !stored.contains_key(*t)))
                .filter(|t| !seen.contains(*t))
                .cloned()
                .collect();
            let mut missing = 0;
            if !gone.is_empty() {
                // A task stored only in the pending batch must be stored before it is finished.
                self.flush(pending, report).await?;
                missing = self
                    .record_absent(&user.id, &gone, listing_started, report)
                    .await?;
            }
            let fingerprint = pages.map(|pages| {
                // Tasks still pending after this listing: those it held, and those it lacked
                // for the first time (marked missing); the ones lacked twice are finished.
                let oldest_stored = stored
                    .iter()
                    .filter(|(id, t)| !t.missing || seen.contains(*id))
                    .map(|(_, t)| t.started)
                    .min();
                ListingFingerprint {
                    pages,
                    tasks: seen.iter().map(|id| task_hash(id)).collect(),
                    oldest_start: oldest_stored
                        .into_iter()
                        .chain(oldest_new)
                        .min()
                        .unwrap_or(DateTime::<Utc>::MAX_UTC),
                    missing,
                }
            });
            // Recorded at the end, after the writes of every page.
            listed_users.push(CompleteListing {
                user: user.id.clone(),
                at: listing_started,
                fingerprint,
            });
        } else {
            report.users_failed += 1;
        }
        tasks_seen.extend(seen.iter().map(|id| task_hash(id)));
        if may_be_due {
            // The expediting side reads this user's tasks next.
            self.flush(pending, report).await?;
        }
        Ok(ListingDone {
            user: user.id.clone(),
            may_be_due,
            complete_at: complete.then_some(listing_started),
        })
    }

    /// Records what a complete listing of `user` lacked (see [`Store::record_absent`]) and
    /// counts it; how many tasks were marked missing.
    ///
    /// [`Store::record_absent`]: crate::store::Store::record_absent
    pub(super) async fn record_absent(
        &self,
        user: &str,
        gone: &[String],
        listing_started: DateTime<Utc>,
        report: &mut CycleReport,
    ) -> Result<u64, StoreError> {
        let absent = self
            .store
            .record_absent(user, gone, listing_started)
            .await?;
        report.tasks_finished += absent.finished;
        report.tasks_missing += absent.missing;
        Ok(absent.missing)
    }

    /// Writes the listed tasks gathered so far, in one transaction.
    pub(super) async fn flush(
        &self,
        pending: &mut Vec<ListedAssignment>,
        report: &mut CycleReport,
    ) -> Result<(), StoreError> {
        report.tasks_new += self.store.record_listed(pending, self.clock.now()).await?;
        self.client.progress().beat();
        pending.clear();
        Ok(())
    }

    /// Tasks that started after this cannot be due: every rule waits at least its `after`
    /// (working time and calendars only ever make it later).
    pub(super) fn oldest_possible_due_start(&self) -> DateTime<Utc> {
        let now = self.clock.now();
        self.config
            .rules
            .iter()
            .filter(|r| r.max_times > 0)
            .map(|r| r.after)
            .min()
            .and_then(|after| chrono::TimeDelta::from_std(after).ok())
            .and_then(|after| now.checked_sub_signed(after))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Pages through one listing, adding what it holds to `seen`; `prefetched` are its first
    /// pages, already read. The hashes of its pages when complete; `None` when the listing
    /// never held still long enough to be trusted as complete.
    ///
    /// Offset paging over a live list shifts when a task finishes mid-listing: a later page then
    /// skips one task. A total that changed between pages shows this happened, and the listing
    /// is read again from the start; only a pass with a steady total counts as complete.
    // The listing's working state is passed piecemeal: each piece has one reader or writer.
    #[allow(clippy::too_many_arguments)]
    async fn list_stream(
        &self,
        user: &User,
        api_ids: Option<&[String]>,
        prefetched: Vec<RawPage>,
        stored: &FxHashMap<String, StoredTask>,
        seen: &mut FxHashSet<String>,
        listed_any: &mut FxHashSet<String>,
        oldest_new: &mut Option<DateTime<Utc>>,
        pending: &mut Vec<ListedAssignment>,
        report: &mut CycleReport,
    ) -> Result<Option<Vec<u64>>, ListError> {
        let flow_set = api_ids.map(decide::flow_set_of);
        let mut prefetched = prefetched.into_iter();
        for pass in 0..MAX_LISTING_PASSES {
            let mut pass_seen: FxHashSet<String> = FxHashSet::default();
            let mut hashes = Vec::new();
            let mut offset = 0;
            let mut first_count = None;
            let mut stable = true;
            // Entries that could not be read: the listing is kept, but not complete.
            let mut unreadable = 0;
            for page_no in 1.. {
                let raw = match prefetched.next().filter(|_| pass == 0) {
                    Some(raw) => raw,
                    None => self
                        .client
                        .query_page(&user.id, offset, api_ids, None)
                        .await
                        .map_err(ListError::Feishu)?,
                };
                hashes.push(raw.hash());
                // Every entry is written when the listing teaches flows or nothing is stored:
                // decoded at once then.
                let mut page = raw
                    .decode(flow_set.is_some() || stored.is_empty())
                    .map_err(|e| ListError::Feishu(FeishuError::Decode(e)))?;
                if page.skipped > 0 {
                    tracing::warn!(user = %user.id, offset, skipped = page.skipped,
                        "listing page had entries that could not be read; the others are kept, and nothing is finished on this listing");
                    unreadable += page.skipped;
                }
                let count = page.count;
                stable &= *first_count.get_or_insert(count) == count;
                // Raw entries, unreadable ones included: fewer than asked for is the end.
                let listed = page.entries.len() + page.skipped;
                let mut entries = std::mem::take(&mut page.entries);
                for entry in &mut entries {
                    // A task that slid back onto this page from the previous one is stored once.
                    if pass_seen.contains(&entry.task_id) {
                        continue;
                    }
                    let known = stored.get(&entry.task_id);
                    // Unchanged tasks already pending for this user need no write (nor
                    // decoding); a filtered listing always writes, as it teaches the tasks' flow,
                    // and so does one that holds a task the previous listing lacked (its missing
                    // mark is cleared).
                    let changed = flow_set.is_some()
                        || known.is_none_or(|s| s.missing || s.text_hash != entry.text_hash);
                    if changed {
                        let task = page.task(entry);
                        if known.is_none() {
                            // New to this user: it could be old (known through another user),
                            // and then due; without a start time nobody can tell yet.
                            let start = task.start_time.unwrap_or(DateTime::<Utc>::MIN_UTC);
                            *oldest_new = Some(oldest_new.map_or(start, |o| o.min(start)));
                            if !listed_any.contains(&task.task_id) {
                                listed_any.insert(task.task_id.clone());
                            }
                        }
                        pending.push(ListedAssignment {
                            user: user.id.clone(),
                            flow_set: flow_set.clone(),
                            task,
                        });
                    }
                    pass_seen.insert(entry.task_id.clone());
                }
                if pending.len() >= WRITE_BATCH {
                    self.flush(pending, report)
                        .await
                        .map_err(ListError::Store)?;
                }
                offset += PAGE_SIZE;
                if end_seen(listed, offset, count) {
                    break;
                }
                if count.is_none() && page_no == MAX_UNCOUNTED_PAGES {
                    // No count and no end seen: nothing can be finished on it.
                    return Err(ListError::Feishu(FeishuError::Decode(format!(
                        "no end of the listing seen within {MAX_UNCOUNTED_PAGES} pages, and the answers give no count"
                    ))));
                }
            }
            if unreadable > 0 {
                seen.extend(pass_seen);
                return Ok(None);
            }
            if stable {
                seen.extend(pass_seen);
                return Ok(Some(hashes));
            }
            tracing::info!(user = %user.id, pass = pass + 1, "task count changed while paging; reading the listing again");
            if pass + 1 == MAX_LISTING_PASSES {
                seen.extend(pass_seen);
            }
        }
        Ok(None)
    }
}

fn listing_failed(user: &User, e: &FeishuError) {
    tracing::warn!(user = %user.id, user_name = user.display_name(), code = e.code(), error = %e,
        "listing failed; this user's tasks are kept as they were");
}

/// How a task id is counted among the tasks seen, and kept in a fingerprint.
pub(super) fn task_hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

/// What the listing side of a cycle carries from one user to the next.
pub(super) struct ListingSide {
    /// When this cycle's listing side began: a doubt about a task's flow is confirmed only by
    /// a listing of a later cycle.
    pub(super) cycle_started: DateTime<Utc>,
    /// Tasks that started after this cannot be due yet.
    pub(super) oldest_due_start: DateTime<Utc>,
    /// Per user, the tasks stored as pending for them when the cycle began; `None`: read per
    /// user when their listing changed.
    pub(super) snapshots: Option<FxHashMap<String, FxHashMap<String, StoredTask>>>,
    /// What each user's last complete listing said (unfiltered listings only).
    pub(super) fingerprints: FxHashMap<String, ListingFingerprint>,
    /// xxh3 of each task id listed: distinct tasks seen, counted.
    pub(super) tasks_seen: FxHashSet<u64>,
    /// Users listed completely, with when their listing started and its fingerprint: written at the
    /// end, after every page's tasks.
    pub(super) listed: Vec<CompleteListing>,
    /// Listed tasks not written yet.
    pub(super) pending: Vec<ListedAssignment>,
}

/// A user the listing side is done with, for the expediting side.
pub(super) struct ListingDone {
    pub(super) user: String,
    /// Could any of the user's tasks be due? When not, their decisions are skipped.
    pub(super) may_be_due: bool,
    /// When the user's listing started, if it was complete: every task it held was still
    /// pending for them then, so an expedite before it went unanswered.
    pub(super) complete_at: Option<DateTime<Utc>>,
}

enum ListError {
    Feishu(FeishuError),
    Store(StoreError),
}

/// The listings each user needs: one per distinct `api_ids` set, plus one unfiltered when some
/// rule has none (or there are no rules, so tasks are still tracked).
pub fn listing_flows(config: &Config) -> Vec<Option<Vec<String>>> {
    let mut filters: Vec<Option<Vec<String>>> = Vec::new();
    if config.rules.is_empty() || config.rules.iter().any(|r| r.api_ids.is_none()) {
        filters.push(None);
    }
    for r in &config.rules {
        if let Some(ids) = &r.api_ids
            && !filters.iter().any(|f| f.as_ref() == Some(ids))
        {
            filters.push(Some(ids.clone()));
        }
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_a_listing_table() {
        // (case, raw entries on the page, next offset, count given, end seen)
        let cases = [
            ("short page", 10, 50, Some(120), true),
            ("empty page", 0, 50, Some(120), true),
            ("full page, count reached", 50, 100, Some(100), true),
            ("full page, count past", 50, 100, Some(60), true),
            ("full page, more counted", 50, 100, Some(101), false),
            ("full page, no count", 50, 100, None, false),
            ("short page, no count", 49, 100, None, true),
            ("no count, empty page", 0, 50, None, true),
            ("count 0 given, full page", 50, 50, Some(0), true),
        ];
        for (name, listed, offset, count, want) in cases {
            assert_eq!(end_seen(listed, offset, count), want, "{name}");
        }
    }
}
