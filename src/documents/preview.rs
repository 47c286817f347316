//! The preview of a draft: the planner `plan` runs, over what is stored now, once with the
//! team's stored version and once with the draft; the team's pending pairs whose owning rule,
//! state or next reminder would change, and what would go at the next tick either way.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{Config, ConfigError};
use crate::plan::{self, PlanEntry};
use crate::store::{Store, StoreError, TeamVersion};

/// One pair whose decision a draft changes.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewRow {
    pub task_id: String,
    pub label: String,
    pub assignee_id: String,
    pub assignee: String,
    pub before: Side,
    pub after: Side,
}

/// A pair's decision under one version.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Side {
    pub rule: Option<String>,
    /// The state's code (`due`, `waiting`, `reminders_over` …).
    pub state: &'static str,
    /// RFC 3339 in the schedule's zone: the next reminder.
    pub next_due: Option<String>,
    pub why: String,
}

impl Side {
    fn of(e: &PlanEntry) -> Side {
        Side {
            rule: e.rule.clone(),
            state: e.status.as_str(),
            next_due: e.next_due.clone(),
            why: e.why.clone(),
        }
    }
}

/// What a draft would change.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub team: String,
    /// The team's pending (task, assignee) pairs looked at.
    pub pairs: usize,
    pub changed: Vec<PreviewRow>,
    /// RFC 3339: the next tick of the schedule.
    pub next_tick: Option<String>,
    /// Reminders and escalations that would go at the next tick: with the stored version,
    /// with the draft.
    pub reminders_before: usize,
    pub reminders_after: usize,
    pub escalations_before: usize,
    pub escalations_after: usize,
    /// What the validator says of the draft beside errors.
    pub warnings: Vec<String>,
}

/// Why a preview could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("{0}")]
    Invalid(ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The preview of `draft` as `team`'s next version, at `now`.
pub async fn preview(
    config: &Config,
    store: &Store,
    team: &str,
    draft: &str,
    now: DateTime<Utc>,
) -> Result<Preview, PreviewError> {
    let versions = store.latest_team_versions().await?;
    let before = config.with_documents(&versions);
    let doc = before
        .check_document(team, draft)
        .map_err(PreviewError::Invalid)?;
    let mut drafted: Vec<TeamVersion> = versions.into_iter().filter(|v| v.team != team).collect();
    drafted.push(TeamVersion {
        team: team.to_owned(),
        version: i64::MAX,
        document: draft.to_owned(),
        author: String::new(),
        comment: String::new(),
        saved_at: now,
        restores: None,
    });
    let after = before.with_documents(&drafted);
    // The team's people under either version; only their pairs are kept as they are read.
    let people: std::collections::HashSet<String> = [&before, &after]
        .into_iter()
        .flat_map(|c| c.users.iter())
        .filter(|u| u.team.as_deref() == Some(team))
        .map(|u| u.id.clone())
        .collect();
    let mut pairs = Vec::new();
    store
        .visit_pending_pairs(crate::store::PairScope::All, None, |p| {
            if people.contains(&p.user_id) {
                pairs.push(p);
            }
        })
        .await?;
    let today = crate::domain::calls::day_start(now, config.schedule.timezone);
    let sent_today = store.reminders_since(today).await?;
    Ok(compare(
        team,
        &before,
        &after,
        &pairs,
        now,
        &sent_today,
        doc.warnings,
    ))
}

/// The two plans side by side.
fn compare(
    team: &str,
    before: &Config,
    after: &Config,
    pairs: &[crate::domain::Pair],
    now: DateTime<Utc>,
    sent_today: &HashMap<String, u32>,
    warnings: Vec<String>,
) -> Preview {
    let old = plan::build(before, pairs, now, sent_today);
    let new = plan::build(after, pairs, now, sent_today);
    let tick = before.ticks().next_after(now);
    let key = |e: &PlanEntry| (e.task_id.clone(), e.assignee_id.clone());
    let old_by: HashMap<_, _> = old.iter().map(|e| (key(e), e)).collect();
    let goes = |entries: &[PlanEntry]| -> (usize, usize) {
        let by_tick = |at: &Option<String>| {
            at.as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .zip(tick)
                .is_some_and(|(t, tick)| t <= tick)
        };
        let reminders = entries
            .iter()
            .filter(|e| matches!(e.status, plan::PlanStatus::Due { .. }))
            .count();
        let escalations = entries
            .iter()
            .filter(|e| by_tick(&e.next_escalation))
            .count();
        (reminders, escalations)
    };
    let (reminders_before, escalations_before) = goes(&old);
    let (reminders_after, escalations_after) = goes(&new);
    let changed = new
        .iter()
        .filter_map(|n| {
            let o = old_by.get(&key(n))?;
            let (b, a) = (Side::of(o), Side::of(n));
            (b.rule != a.rule || b.state != a.state || b.next_due != a.next_due).then(|| {
                PreviewRow {
                    task_id: n.task_id.clone(),
                    label: n.label.clone(),
                    assignee_id: n.assignee_id.clone(),
                    assignee: n.assignee.clone(),
                    before: b,
                    after: a,
                }
            })
        })
        .collect();
    Preview {
        team: team.to_owned(),
        pairs: pairs.len(),
        changed,
        next_tick: tick.map(|t| t.with_timezone(&before.schedule.timezone).to_rfc3339()),
        reminders_before,
        reminders_after,
        escalations_before,
        escalations_after,
        warnings,
    }
}

/// The file's `[[users]]` of `team` and its rules for that team alone, as a document: what
/// `team import NAME --from-config` saves as the team's first version.
pub(super) fn from_config(config: &Config, team: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(&config.file)
        .map_err(|e| format!("cannot read {}: {e}", config.file.display()))?;
    let file: toml::Table =
        toml::from_str(&text).map_err(|e| format!("cannot read {}: {e}", config.file.display()))?;
    let entries = |key: &str| -> Vec<toml::Table> {
        file.get(key)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_table().cloned()).collect())
            .unwrap_or_default()
    };
    let is_team = |v: Option<&toml::Value>| v.and_then(|v| v.as_str()) == Some(team);
    let users: Vec<toml::Table> = entries("users")
        .into_iter()
        .filter(|u| is_team(u.get("team")))
        .map(|mut u| {
            u.remove("team");
            u
        })
        .collect();
    let rules: Vec<toml::Table> = entries("rules")
        .into_iter()
        .filter(|r| {
            // No users (or `users = []`, the same): the rule `with_documents` gives way.
            r.get("users")
                .is_none_or(|u| u.as_array().is_some_and(|a| a.is_empty()))
                && r.get("first").and_then(|f| f.as_bool()) != Some(true)
                && r.get("teams")
                    .and_then(|t| t.as_array())
                    .is_some_and(|t| t.len() == 1 && is_team(t.first()))
        })
        .map(|mut r| {
            r.remove("teams");
            r.remove("users");
            r
        })
        .collect();
    let mut doc = toml::Table::new();
    doc.insert(
        "users".into(),
        toml::Value::Array(users.into_iter().map(toml::Value::Table).collect()),
    );
    doc.insert(
        "rules".into(),
        toml::Value::Array(rules.into_iter().map(toml::Value::Table).collect()),
    );
    toml::to_string(&doc).map_err(|e| format!("cannot write the document: {e}"))
}
