//! What the store takes and gives, the same for both backends.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::CallKind;
use crate::domain::Recipient;
use crate::domain::report::Sent;
use crate::feishu::ListedTask;

/// A listed task to store: for whom, from which listing (a flow set, or none).
#[derive(Debug, Clone)]
pub struct ListedAssignment {
    pub user: String,
    pub flow_set: Option<String>,
    pub task: ListedTask,
}

/// What a listing needs to know of a task already pending for its user.
#[derive(Debug, Clone, Copy)]
pub struct StoredTask {
    /// The hash of what the last listing said of it (`ListedTask::text_hash`; the column
    /// `tasks.fingerprint`, named before "fingerprint" came to mean a whole listing's).
    pub text_hash: u64,
    /// Start time, or first seen when Feishu gave none: what its age counts from.
    pub started: DateTime<Utc>,
    /// The previous complete listing lacked it: a listing that holds it must say so.
    pub missing: bool,
}

/// What a complete listing's absent tasks did to a user's assignments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Absent {
    /// Lacked by two complete listings in a row: finished.
    pub finished: u64,
    /// Lacked for the first time: marked missing, finished if the next listing agrees.
    pub missing: u64,
}

/// The fingerprint of one user's last complete listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingFingerprint {
    /// xxh3 of each page's answer body, in order.
    pub pages: Vec<u64>,
    /// xxh3 of each task id the listing held: enough to count distinct tasks seen.
    pub tasks: Vec<u64>,
    /// The earliest start (or first sight) among the user's pending tasks after the listing.
    pub oldest_start: DateTime<Utc>,
    /// How many of the user's tasks the listing lacked: marked missing, finished by the next
    /// listing that lacks them too.
    pub missing: u64,
}

/// A complete listing of a user, to record when the listing side is done.
#[derive(Debug, Clone)]
pub struct CompleteListing {
    pub user: String,
    pub at: DateTime<Utc>,
    /// A new fingerprint; `None` keeps the stored one (the listing matched it).
    pub fingerprint: Option<ListingFingerprint>,
}

/// Hashes as stored: 16 hex digits each.
pub(super) fn hashes_text(hashes: &[u64]) -> String {
    // A hash per task listed, 16 hex digits each: written into one buffer, not through `fmt`.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = Vec::with_capacity(hashes.len() * 16);
    for h in hashes {
        text.extend(
            (0..16)
                .rev()
                .map(|i| DIGITS[((h >> (i * 4)) & 0xf) as usize]),
        );
    }
    String::from_utf8(text).unwrap_or_default()
}

pub(super) fn parse_hashes(text: &str) -> Option<Vec<u64>> {
    if !text.len().is_multiple_of(16) || !text.is_ascii() {
        return None;
    }
    (0..text.len() / 16)
        .map(|i| u64::from_str_radix(&text[i * 16..(i + 1) * 16], 16).ok())
        .collect()
}

/// The last move of a task from an assignee, as the pairs query reads it: kind, when, n,
/// outcome, Feishu's code and message.
pub type MovedRow = (String, i64, i64, String, Option<i64>, Option<String>);

/// A move as the decision knows it: a failed move still counting was refused by Feishu.
pub fn move_record(
    (kind, at, n, outcome, code, msg): MovedRow,
) -> Option<crate::domain::MoveRecord> {
    Some(crate::domain::MoveRecord {
        kind: CallKind::parse(&kind)?,
        at: super::from_ms(at),
        n: n.max(1) as u32,
        refused: (outcome == "failed").then(|| (code.unwrap_or(0), msg.unwrap_or_default())),
        unknown: matches!(outcome.as_str(), "unknown" | "pending"),
    })
}

/// The people a call (or calls) named, as stored: a JSON array of ids (or, aggregated over
/// calls, an array of such arrays' texts); each once. What cannot be read names nobody.
pub fn people_of(text: Option<String>) -> Vec<String> {
    people_in(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// [`people_of`] over JSON already read.
pub fn people_in(value: Option<serde_json::Value>) -> Vec<String> {
    let mut people: Vec<String> = Vec::new();
    let Some(serde_json::Value::Array(values)) = value else {
        return people;
    };
    let lists: Vec<String> = values
        .into_iter()
        .flat_map(|v| match v {
            // One call's array, aggregated as its text (SQLite) or as JSON (PostgreSQL).
            serde_json::Value::String(s) if s.starts_with('[') => {
                serde_json::from_str::<Vec<String>>(&s).unwrap_or_default()
            }
            serde_json::Value::String(s) => vec![s],
            serde_json::Value::Array(a) => a
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    for p in lists.into_iter().filter(|p| !p.is_empty()) {
        if !people.contains(&p) {
            people.push(p);
        }
    }
    people
}

/// A list of ids as stored: a JSON array.
pub(super) fn people_json(people: &[String]) -> String {
    serde_json::to_string(people).unwrap_or_else(|_| "[]".to_owned())
}

/// A call that acts, as recorded before it is made.
#[derive(Debug, Clone, Copy)]
pub struct Intent<'a> {
    pub kind: CallKind,
    pub task_id: &'a str,
    pub rule: &'a str,
    pub operator: &'a str,
    /// The opinion of an expedite or a move, the chat name of a chat; empty for cc.
    pub opinion: &'a str,
    pub recipients: &'a [Recipient],
    /// Who the call names beyond its assignees: a move's new assignees, a cc's people, a
    /// chat's invitees; empty for a reminder.
    pub people: &'a [String],
}

impl Intent<'_> {
    /// The people as stored: a JSON array of ids, `None` when there are none.
    pub(super) fn people_text(&self) -> Option<String> {
        (!self.people.is_empty()).then(|| people_json(self.people))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written before the call; no outcome yet (or the process stopped during the call).
    Pending,
    Sent,
    Failed,
    /// A move Feishu refused: stored as failed, but it keeps counting for its (task, assignee),
    /// so the same attempt is not made again; the next one comes a day later.
    Refused,
    /// The call may or may not have reached Feishu (timeout, crash).
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Sent => "sent",
            Outcome::Failed | Outcome::Refused => "failed",
            Outcome::Unknown => "unknown",
        }
    }
}

/// One recorded expedite, for history views and tests.
#[derive(Debug, Clone)]
pub struct ExpediteRecord {
    pub id: i64,
    /// `expedite`, `cc` or `chat`.
    pub kind: String,
    pub task_id: String,
    pub rule: String,
    pub operator_id: String,
    pub opinion: String,
    pub intent_at: DateTime<Utc>,
    pub outcome: Outcome,
    pub feishu_code: Option<i64>,
    pub feishu_msg: Option<String>,
    /// (user, n)
    pub assignees: Vec<(String, u32)>,
}

/// A ledger row as both backends select it: id, task_id, rule, operator_id, opinion,
/// intent_at, outcome, feishu_code, feishu_msg, kind, and the assignees as `user:n,user:n`.
pub(super) type ExpediteRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    String,
    Option<i64>,
    Option<String>,
    String,
    Option<String>,
);

impl ExpediteRecord {
    /// A ledger row read back; an outcome it does not know is an error.
    pub(super) fn from_row(row: ExpediteRow) -> Result<ExpediteRecord, String> {
        let (id, task_id, rule, operator_id, opinion, intent_at, outcome, code, msg, kind, who) =
            row;
        Ok(ExpediteRecord {
            id,
            kind,
            task_id,
            rule,
            operator_id,
            opinion,
            intent_at: super::from_ms(intent_at),
            outcome: outcome.parse()?,
            feishu_code: code,
            feishu_msg: msg,
            assignees: who
                .unwrap_or_default()
                .split(',')
                .filter_map(|p| {
                    let (u, n) = p.rsplit_once(':')?;
                    Some((u.to_owned(), n.parse().ok()?))
                })
                .collect(),
        })
    }
}

/// A call that counts as both backends select it: task_id, user_id, rule, kind, intent_at,
/// when the assignment finished and when the task did (neither when it was moved away), and
/// whether the task left every watched list moved away (1).
pub(super) type SentRow = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    i64,
);

pub(super) fn sent_of(
    (task_id, user_id, rule, kind, at, finished, task_finished, moved_away): SentRow,
) -> Sent {
    Sent {
        task_id,
        user_id,
        rule,
        kind,
        at: super::from_ms(at),
        finished_at: finished.map(super::from_ms),
        task_finished_at: task_finished.map(super::from_ms),
        task_moved_away: moved_away == 1,
    }
}

/// A silence as both backends select it: id, task_id, user_id, until, reason, created_by,
/// created_at, ended_at.
pub(super) type SilenceRow = (
    i64,
    String,
    Option<String>,
    i64,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);

impl From<SilenceRow> for Silence {
    fn from(
        (id, task_id, user_id, until, reason, created_by, created_at, ended_at, ended_by, labels): SilenceRow,
    ) -> Silence {
        let labels: Vec<(String, String)> = labels
            .and_then(|l| serde_json::from_str(&l).ok())
            .unwrap_or_default();
        let label = crate::domain::display_label(&labels);
        Silence {
            id,
            task_id,
            user_id,
            until: super::from_ms(until),
            reason,
            created_by,
            created_at: super::from_ms(created_at),
            ended_at: ended_at.map(super::from_ms),
            ended_by,
            label: (!label.is_empty()).then(|| label.to_owned()),
        }
    }
}

/// A task as stored, for commands that name one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskAssignees {
    /// No watched assignee has it pending any more.
    pub finished: bool,
    /// Its assignees who have it pending.
    pub pending: Vec<String>,
}

impl ListingFingerprint {
    /// A fingerprint as stored: page and task hashes as hex text. One that cannot be read (or
    /// names no page) is none — the next listing is decoded.
    pub(super) fn from_columns(
        pages: &str,
        tasks: &str,
        oldest_start: i64,
        missing: i64,
    ) -> Option<ListingFingerprint> {
        Some(ListingFingerprint {
            pages: parse_hashes(pages).filter(|p| !p.is_empty())?,
            tasks: parse_hashes(tasks)?,
            oldest_start: super::from_ms(oldest_start),
            missing: missing.max(0) as u64,
        })
    }
}

impl StoredTask {
    pub(super) fn from_columns(text_hash: i64, started: i64, missing: bool) -> StoredTask {
        StoredTask {
            text_hash: text_hash as u64,
            started: super::from_ms(started),
            missing,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => Outcome::Pending,
            "sent" => Outcome::Sent,
            "failed" => Outcome::Failed,
            "unknown" => Outcome::Unknown,
            other => return Err(format!("unknown outcome \"{other}\"")),
        })
    }
}

/// Which pending pairs to read.
#[derive(Debug, Clone, Copy)]
pub enum PairScope<'a> {
    All,
    /// The pairs of every task pending for this user, all its assignees included.
    TasksOf(&'a str),
    /// The pairs of tasks first seen at or after this time.
    FirstSeenSince(DateTime<Utc>),
    /// The pending pairs of these tasks (a page of the console).
    Tasks(&'a [String]),
}

/// One silence as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Silence {
    pub id: i64,
    pub task_id: String,
    /// `None`: every assignee of the task.
    pub user_id: Option<String>,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// When `silence remove` (or the console) ended it.
    pub ended_at: Option<DateTime<Utc>>,
    /// Who ended it (`removed_by` in JSON, beside `created_by`).
    #[serde(rename = "removed_by")]
    pub ended_by: Option<String>,
    /// The task's label, when the task is known.
    pub label: Option<String>,
}

impl Silence {
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.ended_at.is_none() && now < self.until
    }
}

/// A new silence.
#[derive(Debug, Clone, Copy)]
pub struct NewSilence<'a> {
    pub task_id: &'a str,
    pub user_id: Option<&'a str>,
    pub until: DateTime<Utc>,
    pub reason: &'a str,
    pub created_by: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_read_back_as_written() {
        // The text stored by earlier versions (`{:016x}` each) reads back the same.
        assert_eq!(
            hashes_text(&[0x0123_4567_89ab_cdef, 1]),
            format!("{:016x}{:016x}", 0x0123_4567_89ab_cdef_u64, 1)
        );
        for hashes in [vec![], vec![0], vec![u64::MAX, 1, 0x0123_4567_89ab_cdef]] {
            assert_eq!(parse_hashes(&hashes_text(&hashes)), Some(hashes));
        }
        for bad in ["123", "zz00000000000000", "é000000000000000"] {
            assert_eq!(parse_hashes(bad), None, "{bad}");
        }
    }
}

/// What the console's task list asks for: filters, an order and a page — answered in SQL.
#[derive(Debug, Clone, Default)]
pub struct PairQuery<'a> {
    /// One assignee.
    pub user: Option<&'a str>,
    /// Any of these assignees (a team's members); `None`: anyone.
    pub users: Option<&'a [String]>,
    /// None of these assignees (the watched ones, to find the unwatched); `None`: no one.
    pub except_users: Option<&'a [String]>,
    /// Text in the task's label (any language, case-insensitive for ASCII), or its id.
    pub text: Option<&'a str>,
    pub sort: PairSort,
    pub limit: i64,
    pub offset: i64,
}

/// How the console's task list is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PairSort {
    /// The longest waiting first.
    #[default]
    Oldest,
    Newest,
    /// By assignee id, then the longest waiting first.
    Assignee,
    /// By task id.
    Task,
}

impl PairSort {
    pub fn parse(text: &str) -> Option<PairSort> {
        Some(match text {
            "oldest" | "age" => PairSort::Oldest,
            "newest" => PairSort::Newest,
            "assignee" => PairSort::Assignee,
            "task" => PairSort::Task,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            PairSort::Oldest => "oldest",
            PairSort::Newest => "newest",
            PairSort::Assignee => "assignee",
            PairSort::Task => "task",
        }
    }

    /// The ORDER BY of this sort: fixed text, never from the request.
    pub(super) fn order_by(self) -> &'static str {
        match self {
            PairSort::Oldest => "coalesce(t.start_time, t.first_seen) ASC, a.task_id, a.user_id",
            PairSort::Newest => "coalesce(t.start_time, t.first_seen) DESC, a.task_id, a.user_id",
            PairSort::Assignee => "a.user_id, coalesce(t.start_time, t.first_seen) ASC, a.task_id",
            PairSort::Task => "a.task_id, a.user_id",
        }
    }
}

/// One task as stored, with every assignment and every call made about it: the console's
/// task page.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRecord {
    pub task_id: String,
    pub label: String,
    pub initiator_id: Option<String>,
    pub initiator_name: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// It left every watched user's list because it was moved away (to someone not watched):
    /// not known to be done.
    pub moved_away: bool,
    pub assignments: Vec<AssignmentRecord>,
    pub calls: Vec<CallRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AssignmentRecord {
    pub user_id: String,
    pub first_seen: DateTime<Utc>,
    /// Not pending for them because it was transferred away from them (not done by them).
    pub moved_away: bool,
    pub finished_at: Option<DateTime<Utc>>,
    pub missing_since: Option<DateTime<Utc>>,
}

/// A call that acted (or was meant to) about a task: a reminder, a cc, a chat.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub id: i64,
    pub kind: String,
    pub rule: String,
    pub operator_id: String,
    pub intent_at: DateTime<Utc>,
    pub outcome: String,
    pub outcome_at: Option<DateTime<Utc>>,
    pub feishu_code: Option<i64>,
    pub feishu_msg: Option<String>,
    /// The assignees it named, with the reminder's number for each.
    pub assignees: Vec<(String, i64)>,
    /// Who else it named: a move's new assignees, a cc's people, a chat's invitees.
    pub people: Vec<String>,
    /// A move Feishu refused (tried again a day later), rather than one that failed unsent.
    pub refused: bool,
}

/// A console session as stored (by the hash of the browser's id).
#[derive(Debug, Clone)]
pub struct Session {
    /// For the record: "Name (open_id)", "token", "cli:<user>".
    pub who: String,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
    /// How it was made: `feishu`, `token` or `link`.
    pub kind: String,
    /// Sign in with Feishu: the person.
    pub open_id: Option<String>,
    pub email: Option<String>,
    /// Token and link sessions: a digest of the console token they were made under (`None`:
    /// no token was set); they end when it changes.
    pub token_digest: Option<String>,
}

/// An act for the audit trail.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub who: &'a str,
    /// The address it came from (`None`: the command line).
    pub address: Option<&'a str>,
    /// `sign_in`, `sign_out`, `session_ended`, `silence_added`, `silence_removed`,
    /// `away_added`, `away_removed`.
    pub action: &'a str,
    /// The teams it concerns (a lead sees the entries of their teams).
    pub teams: &'a [String],
    /// What, in words.
    pub detail: &'a str,
}

/// An entry of the audit trail as stored.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub who: String,
    pub address: Option<String>,
    pub action: String,
    pub teams: Vec<String>,
    pub detail: String,
}

/// A session as `console sessions` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// The first 12 hex digits of the hash of its id (never the id).
    pub id: String,
    pub who: String,
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An away window as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Away {
    pub id: i64,
    pub user_id: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub deputy: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// When `away remove` (or the console) ended it.
    #[serde(rename = "removed_at")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(rename = "removed_by")]
    pub ended_by: Option<String>,
}

/// A new away window.
#[derive(Debug)]
pub struct NewAway<'a> {
    pub user_id: &'a str,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub deputy: Option<&'a str>,
    pub reason: &'a str,
    pub created_by: &'a str,
}

pub(super) type AwayRow = (
    i64,
    String,
    i64,
    i64,
    Option<String>,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
);

impl From<AwayRow> for Away {
    fn from(
        (id, user_id, from, until, deputy, reason, created_by, created_at, ended_at, ended_by): AwayRow,
    ) -> Away {
        Away {
            id,
            user_id,
            from: super::from_ms(from),
            until: super::from_ms(until),
            deputy,
            reason,
            created_by,
            created_at: super::from_ms(created_at),
            ended_at: ended_at.map(super::from_ms),
            ended_by,
        }
    }
}

/// What holds a task's calls back at one moment (see `Store::holds_now`).
#[derive(Debug, Clone, Default)]
pub struct HoldsNow {
    /// A silence holds every assignee of the task.
    pub whole_task: bool,
    /// Assignees a silence of their own holds.
    pub silenced: Vec<String>,
    /// Everyone away at that moment, with the deputy of each window holding then.
    pub away: Vec<(String, Option<String>)>,
}

impl HoldsNow {
    /// Is `user` held back on this task (silenced, or away)?
    pub fn holds(&self, user: &str) -> bool {
        self.whole_task || self.silenced.iter().any(|u| u == user) || self.is_away(user)
    }

    pub fn is_away(&self, user: &str) -> bool {
        self.away.iter().any(|(u, _)| u == user)
    }

    /// Does a window of `user` holding now name `deputy`?
    pub fn away_with_deputy(&self, user: &str, deputy: &str) -> bool {
        self.away
            .iter()
            .any(|(u, d)| u == user && d.as_deref() == Some(deputy))
    }
}

/// A saved version of a team's document.
#[derive(Debug, Clone, Serialize)]
pub struct TeamVersion {
    pub team: String,
    pub version: i64,
    pub document: String,
    pub author: String,
    pub comment: String,
    pub saved_at: DateTime<Utc>,
    /// A rollback: the version it saved again.
    pub restores: Option<i64>,
}

/// A version to save: `based_on` is the version the author started from (0: none yet); the
/// save is refused when another was saved since.
#[derive(Debug, Clone)]
pub struct NewTeamVersion<'a> {
    pub team: &'a str,
    pub based_on: i64,
    pub document: &'a str,
    pub author: &'a str,
    pub comment: &'a str,
    pub restores: Option<i64>,
}
