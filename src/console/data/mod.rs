//! What the pages and the API show, read from the database and the running engine: the task
//! list (filtered and paged in SQL; the state and rule filters decided chunk by chunk, never
//! the whole table at once), the overview's counts, one task's history; and what goes wrong.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::Failure;
use super::roles::Scope;
use super::{Ground, LastCycle};
use crate::domain::Pair;
use crate::plan::{self, PlanEntry, PlanStatus};
use crate::store::{PairQuery, PairScope, PairSort};

/// The task list's filters, sort and page, as in the URL.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(crate) struct TaskFilter {
    /// An assignee's id or name.
    pub assignee: Option<String>,
    pub team: Option<String>,
    pub rule: Option<String>,
    /// A plan status, or `escalated`.
    pub state: Option<String>,
    /// Text in the label, or a task id.
    pub q: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl TaskFilter {
    pub fn assignee(&self) -> Option<&str> {
        set(&self.assignee)
    }
    pub fn team(&self) -> Option<&str> {
        set(&self.team)
    }
    pub fn rule(&self) -> Option<&str> {
        set(&self.rule)
    }
    pub fn state(&self) -> Option<&str> {
        set(&self.state)
    }
    pub fn text(&self) -> Option<&str> {
        set(&self.q)
    }
    pub fn sort(&self) -> PairSort {
        set(&self.sort)
            .and_then(PairSort::parse)
            .unwrap_or_default()
    }
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(50).clamp(1, 500)
    }
    pub fn offset(&self) -> i64 {
        self.offset.unwrap_or(0).clamp(0, 1_000_000_000)
    }
}

/// The states a filter may name: every plan status, and "escalated" (a pair escalated, in
/// whatever state).
pub(crate) fn states() -> Vec<&'static str> {
    PlanStatus::names().chain(["escalated"]).collect()
}

/// One page of the task list.
#[derive(Debug, Serialize)]
pub(crate) struct TaskPage {
    pub entries: Vec<PlanEntry>,
    /// How many pairs match the filters.
    pub total: u64,
    pub limit: i64,
    pub offset: i64,
}

/// Pairs of unwatched users read per query while building the index.
const CHUNK: i64 = 2000;

/// What every page's entries need beside the pairs: reminders sent today (the daily cap)
/// and each user's listings.
pub(crate) struct Context {
    now: DateTime<Utc>,
    sent_today: HashMap<String, u32>,
    listed: Vec<plan::UserListings>,
}

impl Context {
    pub(crate) async fn read(live: &Ground) -> Result<Context, Failure> {
        let config = &live.config;
        let now = live.clock.now();
        let today = crate::domain::calls::day_start(now, config.schedule.timezone);
        let sent_today = live.store.reminders_since(today).await?;
        let last: HashMap<_, _> = live.store.last_listings().await?.into_iter().collect();
        let listed = plan::listings(config, &last, now);
        Ok(Context {
            now,
            sent_today,
            listed,
        })
    }
}

/// The plan's entries for these keys, in their order — as `plan` shows them: with a daily
/// cap, each assignee's due pairs are ranked among all of theirs (not only those on the page).
async fn entries_for(
    live: &Ground,
    keys: &[(String, String)],
    cx: &Context,
) -> Result<Vec<PlanEntry>, Failure> {
    let config = &live.config;
    let mut pairs: Vec<Pair> = Vec::with_capacity(keys.len());
    if config.expedite.max_per_user_per_day > 0 {
        let mut users: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        for user in users {
            live.store
                .visit_pending_pairs(PairScope::TasksOf(user), None, |p| {
                    if p.user_id == user {
                        pairs.push(p)
                    }
                })
                .await?;
        }
    } else {
        let mut tasks: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        tasks.sort();
        tasks.dedup();
        live.store
            .visit_pending_pairs(PairScope::Tasks(&tasks), None, |p| pairs.push(p))
            .await?;
    }
    let wanted: HashMap<(&str, &str), usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| ((k.0.as_str(), k.1.as_str()), i))
        .collect();
    let mut entries = plan::build(config, &pairs, cx.now, &cx.sent_today);
    entries.retain(|e| wanted.contains_key(&(e.task_id.as_str(), e.assignee_id.as_str())));
    entries.sort_by_key(|e| {
        wanted
            .get(&(e.task_id.as_str(), e.assignee_id.as_str()))
            .copied()
            .unwrap_or(usize::MAX)
    });
    plan::with_listings(&mut entries, &cx.listed, config.schedule.timezone);
    Ok(entries)
}

/// One pending pair as the index keeps it: what the state and rule filters, the counts and the
/// sorts need, no more (about 100 bytes a pair).
#[derive(Debug, Clone)]
pub(crate) struct Row {
    task_id: Box<str>,
    user_id: Box<str>,
    status: &'static str,
    rule: Option<u16>,
    escalated: bool,
    /// Epoch ms its age counts from.
    started: i64,
    /// Every label of the task, lowercased, and its id: what the text filter searches.
    text: Box<str>,
    /// The label as shown (the overview's "needs you").
    label: Box<str>,
    /// The assignee as shown.
    assignee: Box<str>,
}

/// Every pending pair decided as `plan` decides it — per assignee, so the daily cap ranks
/// each one's due pairs among all of theirs — with the overview's counts. Built off the
/// request path, kept a few seconds.
pub(crate) struct Index {
    rows: Vec<Row>,
    counts: BTreeMap<String, u64>,
    assignees: Vec<Overdue>,
    rules: Vec<Overdue>,
    computed_at: DateTime<Utc>,
    /// The config it was decided under: a reload makes it stale (rule numbers, users).
    config: Arc<crate::config::Config>,
}

impl Index {
    /// A task's pending assignees, as the index has them.
    pub(crate) fn assignees_of(&self, task_id: &str) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| &*r.task_id == task_id)
            .map(|r| &*r.user_id)
            .collect()
    }

    fn fresh_for(&self, live: &Ground) -> bool {
        Arc::ptr_eq(&self.config, &live.config)
            && live
                .last_cycle
                .as_ref()
                .is_none_or(|c| c.at <= self.computed_at)
    }
}

impl Row {
    fn matches(&self, state: Option<&str>, rule: Option<usize>) -> bool {
        let state_ok = match state {
            None => true,
            Some("escalated") => self.escalated,
            Some(s) => self.status == s,
        };
        state_ok && rule.is_none_or(|r| self.rule == Some(r as u16))
    }
}

/// Builds the index: each watched user's pending pairs in one query and one `plan::build`,
/// then the pairs of users no longer watched.
async fn build_index(live: &Ground) -> Result<Index, Failure> {
    let config = &live.config;
    let store = &live.store;
    let cx = Context::read(live).await?;
    let rule_of: HashMap<&str, u16> = config
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.as_str(), i as u16))
        .collect();
    let mut rows = Vec::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut assignees: HashMap<String, Overdue> = HashMap::new();
    let mut rules: HashMap<String, Overdue> = HashMap::new();
    let mut fold = |entries: Vec<PlanEntry>, pairs: &[Pair]| {
        let facts: HashMap<(&str, &str), (i64, String)> = pairs
            .iter()
            .map(|p| {
                let mut text = p.task_id.to_lowercase();
                for (_, l) in &p.labels {
                    text.push('\n');
                    text.push_str(&l.to_lowercase());
                }
                let started = p.facts().started().timestamp_millis();
                ((p.task_id.as_str(), p.user_id.as_str()), (started, text))
            })
            .collect();
        for e in entries {
            *counts.entry(e.status.as_str().to_owned()).or_default() += 1;
            if e.escalated_at.is_some() {
                *counts.entry("escalated".into()).or_default() += 1;
            }
            let due = u64::from(matches!(e.status, PlanStatus::Due { .. }));
            let a = assignees
                .entry(e.assignee_id.clone())
                .or_insert_with(|| Overdue {
                    id: e.assignee_id.clone(),
                    name: e.assignee.clone(),
                    due: 0,
                    pending: 0,
                    oldest_age_seconds: 0,
                });
            a.due += due;
            a.pending += 1;
            a.oldest_age_seconds = a.oldest_age_seconds.max(e.age_seconds);
            if let Some(r) = &e.rule {
                let r = rules.entry(r.clone()).or_insert_with(|| Overdue {
                    id: r.clone(),
                    name: r.clone(),
                    due: 0,
                    pending: 0,
                    oldest_age_seconds: 0,
                });
                r.due += due;
                r.pending += 1;
                r.oldest_age_seconds = r.oldest_age_seconds.max(e.age_seconds);
            }
            let (started, text) = facts
                .get(&(e.task_id.as_str(), e.assignee_id.as_str()))
                .cloned()
                .unwrap_or_default();
            rows.push(Row {
                started,
                text: text.into_boxed_str(),
                label: e.label.into_boxed_str(),
                assignee: e.assignee.into_boxed_str(),
                task_id: e.task_id.into_boxed_str(),
                user_id: e.assignee_id.into_boxed_str(),
                status: e.status.as_str(),
                rule: e.rule.as_deref().and_then(|r| rule_of.get(r).copied()),
                escalated: e.escalated_at.is_some(),
            });
        }
    };
    for user in &config.users {
        let mut pairs = Vec::new();
        store
            .visit_pending_pairs(PairScope::TasksOf(&user.id), None, |p| {
                if p.user_id == user.id {
                    pairs.push(p)
                }
            })
            .await?;
        let entries = plan::build(config, &pairs, cx.now, &cx.sent_today);
        fold(entries, &pairs);
    }
    // Pairs of users no longer watched: no rule, no cap.
    let watched: Vec<String> = config.users.iter().map(|u| u.id.clone()).collect();
    let mut q = PairQuery {
        except_users: Some(&watched),
        sort: PairSort::Task,
        limit: CHUNK,
        ..Default::default()
    };
    loop {
        let (keys, _) = store.pair_page(&q).await?;
        let full = keys.len() as i64 == CHUNK;
        let mut tasks: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        tasks.dedup();
        let mut pairs = Vec::new();
        store
            .visit_pending_pairs(PairScope::Tasks(&tasks), None, |p| {
                if !watched.contains(&p.user_id) {
                    pairs.push(p)
                }
            })
            .await?;
        let entries = plan::build(config, &pairs, cx.now, &cx.sent_today);
        fold(entries, &pairs);
        if !full {
            break;
        }
        q.offset += CHUNK;
    }
    Ok(Index {
        rows,
        counts,
        assignees: top(assignees, 10),
        // Every rule (the rules page lists them all).
        rules: top(rules, usize::MAX),
        computed_at: cx.now,
        config: config.clone(),
    })
}

/// An index, and when it was built.
type Built = (tokio::time::Instant, Arc<Index>);

/// The index as last built, and when; shared by every request of the console.
#[derive(Clone, Default)]
pub(crate) struct Cache {
    index: Arc<std::sync::Mutex<Option<Built>>>,
    /// Held while the index is built: one build at a time.
    building: Arc<tokio::sync::Mutex<()>>,
}

impl Cache {
    /// A write through the console (a silence made or removed): the next read builds the
    /// index again, so the lists show it at once.
    pub(crate) fn invalidate(&self) {
        *self.index.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn cached(&self) -> Option<Built> {
        self.index.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// How long an index serves before it is built again (in the background: a request never
/// waits for a rebuild, only for the first build). Writes through the console and every cycle
/// make it stale at once; this bounds what another instance's writes take to show.
const INDEX_FOR: Duration = Duration::from_secs(60);

/// The pending pairs as the report counts them: (task, assignee, rule, started).
pub(crate) async fn report_pending(
    live: &Ground,
    cache: &Cache,
) -> Result<crate::commands::report::Pending, Failure> {
    let ix = index(live, cache).await?;
    let config = &live.config;
    Ok(ix
        .rows
        .iter()
        .map(|r| {
            (
                r.task_id.to_string(),
                r.user_id.to_string(),
                r.rule
                    .and_then(|i| config.rules.get(i as usize))
                    .map(|r| r.name.clone()),
                crate::store::from_ms(r.started),
            )
        })
        .collect())
}

pub(crate) async fn index(live: &Ground, cache: &Cache) -> Result<Arc<Index>, Failure> {
    match cache.cached() {
        Some((at, ix)) => {
            // Stale after a while, after every cycle (what it listed and sent) and a reload.
            // Older than the last cycle (or the config in force): what it says is no longer
            // true, so the request waits for the new one. Only old by time: answered from it
            // while another is built.
            if !ix.fresh_for(live) {
                return rebuild(live, cache).await;
            }
            if at.elapsed() >= INDEX_FOR {
                let (live, cache) = (live.clone(), cache.clone());
                tokio::spawn(async move {
                    let _ = rebuild(&live, &cache).await;
                });
            }
            Ok(ix)
        }
        None => rebuild(live, cache).await,
    }
}

/// A pair that needs the lead: every reminder sent and still waiting, or escalated.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Need {
    pub task_id: String,
    pub label: String,
    pub assignee_id: String,
    pub assignee: String,
    /// The state's code (`reminders_over`, or another for an escalated pair).
    pub state: &'static str,
    pub escalated: bool,
    pub age_seconds: u64,
}

impl Index {
    /// What needs the lead, oldest first, of what `scope` sees: the pairs whose reminders are
    /// all sent and still waiting, and the escalated ones; the first `n`, and how many.
    pub(crate) fn needs_you(&self, scope: &Scope, n: usize) -> (Vec<Need>, u64) {
        let mut rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.status == "reminders_over" || r.escalated)
            .filter(|r| scope.sees(&r.user_id))
            .collect();
        rows.sort_by(|a, b| a.started.cmp(&b.started).then(a.task_id.cmp(&b.task_id)));
        let now = self.computed_at.timestamp_millis();
        let list = rows
            .iter()
            .take(n)
            .map(|r| Need {
                task_id: r.task_id.to_string(),
                label: r.label.to_string(),
                assignee_id: r.user_id.to_string(),
                assignee: r.assignee.to_string(),
                state: r.status,
                escalated: r.escalated,
                age_seconds: u64::try_from((now - r.started) / 1000).unwrap_or(0),
            })
            .collect();
        (list, rows.len() as u64)
    }
}

/// Builds the index again, one build at a time (a build under way is waited for, not doubled).
async fn rebuild(live: &Ground, cache: &Cache) -> Result<Arc<Index>, Failure> {
    let _one = cache.building.lock().await;
    if let Some((at, ix)) = cache.cached()
        && at.elapsed() < INDEX_FOR
        && ix.fresh_for(live)
    {
        return Ok(ix);
    }
    let ix = Arc::new(build_index(live).await?);
    *cache.index.lock().unwrap_or_else(|p| p.into_inner()) =
        Some((tokio::time::Instant::now(), ix.clone()));
    Ok(ix)
}

/// The task list: the filters, the order and the page from the index (every pending pair,
/// decided, in a few bytes each); then the page's entries, read fresh from the database.
pub(crate) async fn task_page(
    live: &Ground,
    cache: &Cache,
    f: &TaskFilter,
    scope: &Scope,
) -> Result<TaskPage, Failure> {
    let config = &live.config;
    let assignee = f.assignee().map(|a| {
        config
            .users
            .iter()
            .find(|u| u.id == a || u.name.as_deref() == Some(a))
            .map_or(a.to_owned(), |u| u.id.clone())
    });
    let team: Option<Vec<String>> = f.team().map(|t| {
        config
            .users
            .iter()
            .filter(|u| u.team.as_deref() == Some(t))
            .map(|u| u.id.clone())
            .collect()
    });
    if let Some(s) = f.state()
        && !states().contains(&s)
    {
        return Err(Failure::BadField(
            "state".into(),
            format!("state \"{s}\" is not one of {}", states().join(", ")),
        ));
    }
    if let Some(s) = set(&f.sort)
        && PairSort::parse(s).is_none()
    {
        return Err(Failure::BadField(
            "sort".into(),
            format!("sort \"{s}\" is not one of oldest, newest, assignee, task"),
        ));
    }
    let rule = match f.rule() {
        None => None,
        Some(r) => match config.rules.iter().position(|x| x.name == r) {
            Some(i) => Some(i),
            None => {
                return Err(Failure::BadField(
                    "rule".into(),
                    format!(
                        "rule \"{r}\" is not one of {}",
                        scope
                            .rules(config)
                            .iter()
                            .map(|r| r.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        },
    };
    let cx = Context::read(live).await?;
    let (sort, limit, offset) = (f.sort(), f.limit(), f.offset());
    let ix = index(live, cache).await?;
    let text = f.text().map(str::to_lowercase);
    let team_set: Option<std::collections::HashSet<&str>> = team
        .as_ref()
        .map(|t| t.iter().map(String::as_str).collect());
    let mut hits: Vec<&Row> = ix
        .rows
        .iter()
        .filter(|r| scope.sees(&r.user_id))
        .filter(|r| r.matches(f.state(), rule))
        .filter(|r| assignee.as_deref().is_none_or(|a| &*r.user_id == a))
        .filter(|r| team_set.as_ref().is_none_or(|t| t.contains(&*r.user_id)))
        .filter(|r| text.as_deref().is_none_or(|t| r.text.contains(t)))
        .collect();
    let key = |r: &&Row| (r.task_id.clone(), r.user_id.clone());
    match sort {
        PairSort::Oldest => {
            hits.sort_by(|a, b| a.started.cmp(&b.started).then_with(|| key(a).cmp(&key(b))))
        }
        PairSort::Newest => {
            hits.sort_by(|a, b| b.started.cmp(&a.started).then_with(|| key(a).cmp(&key(b))))
        }
        PairSort::Assignee => hits.sort_by(|a, b| {
            a.user_id
                .cmp(&b.user_id)
                .then(a.started.cmp(&b.started))
                .then_with(|| a.task_id.cmp(&b.task_id))
        }),
        PairSort::Task => hits.sort_by_key(key),
    }
    let total = hits.len() as u64;
    let keys: Vec<(String, String)> = hits
        .iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|r| (r.task_id.to_string(), r.user_id.to_string()))
        .collect();
    let entries = entries_for(live, &keys, &cx).await?;
    Ok(TaskPage {
        entries,
        total,
        limit,
        offset,
    })
}

mod overview;
mod tally;
mod task;

use tally::top;

pub(crate) use overview::{Overdue, Overview, overview};
pub(crate) use task::{TaskView, task_view};
