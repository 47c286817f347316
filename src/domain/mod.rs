//! The domain, free of clocks, databases and HTTP: rules, calendars, opinions, the decision
//! and the planning of calls. Everything here is a pure function of its arguments, `now`
//! included, so tests can state any moment.

pub mod calendar;
pub mod calls;
pub mod decide;
pub mod digest;
pub mod id;
pub mod listing;
pub mod opinion;
pub mod report;
pub mod rule;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use calendar::Calendar;
use decide::{Escalated, PairFacts};
use rule::Rule;

/// The rules with what they refer to: their calendars (by index) and the zone those are in.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub rules: &'a [Rule],
    pub calendars: &'a [Calendar],
    pub timezone: Tz,
    /// `[away] deputy_after`: how long after a move to someone their first reminder comes
    /// (`None`: the rule's `after`).
    pub deputy_after: Option<std::time::Duration>,
}

/// A pending (task, assignee) with everything the decision needs.
#[derive(Debug, Clone)]
pub struct Pair {
    pub task_id: String,
    pub user_id: String,
    pub labels: Vec<(String, String)>,
    pub initiator_id: Option<String>,
    pub initiator_name: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
    /// Flow filters whose listing returned this task.
    pub flow_sets: Vec<String>,
    /// Expedites sent or possibly sent to this assignee for this task.
    pub sent: u32,
    pub last_sent: Option<DateTime<Utc>>,
    /// The last complete listing of this assignee lacked the task (at this time): it is
    /// finished if the next one lacks it too, and is not expedited meanwhile.
    pub missing_since: Option<DateTime<Utc>>,
    /// The assignee's last complete listing.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The silence on this pair that ends last: until, reason (it may have ended already).
    pub silence: Option<(DateTime<Utc>, String)>,
    pub escalated: Escalated,
    /// The task's group chat, once one was opened.
    pub chat_id: Option<String>,
    /// The assignee's away windows not ended yet (current and future ones).
    pub away: Vec<AwayWindow>,
    /// The last move of this task from this assignee (transfer or add_assignee), when one was
    /// made, may have been, or was refused.
    pub moved: Option<MoveRecord>,
    /// Everyone the task was moved to so far (by any assignee's move made or possibly made):
    /// a move to someone who has it already is not made again.
    pub moved_to: Vec<String>,
    /// When the task was last moved to this assignee (a transfer or add_assignee naming them),
    /// when it was: their first reminder counts from there.
    pub moved_in: Option<DateTime<Utc>>,
}

/// A move of a task from an assignee (to a deputy, or by escalation), as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveRecord {
    pub kind: CallKind,
    /// When it was made (or its intent written, when it never ended).
    pub at: DateTime<Utc>,
    /// Its attempt number: a refused move is tried again, as the next number, a day later.
    pub n: u32,
    /// Feishu refused it: (code, message). `None`: made, or possibly made.
    pub refused: Option<(i64, String)>,
    /// No answer proved it made (a timeout, a crash during the call): possibly made, counted
    /// as made.
    pub unknown: bool,
}

/// How long a move Feishu refused waits before it is tried again.
pub const REFUSED_MOVE_RETRY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl MoveRecord {
    /// Does this record settle the move at `now`: made (or possibly made), or refused less than
    /// a day ago? Otherwise a move due is tried again.
    pub fn settles(&self, now: DateTime<Utc>) -> bool {
        self.refused.is_none() || now < self.retry_at()
    }

    /// When a refused move may be tried again.
    pub fn retry_at(&self) -> DateTime<Utc> {
        self.at + chrono::TimeDelta::from_std(REFUSED_MOVE_RETRY).unwrap_or_default()
    }

    /// The attempt number of the next try.
    pub fn next_n(&self) -> u32 {
        self.n + 1
    }
}

/// A time someone is away (leave, a trip): nothing reminds or escalates to them meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwayWindow {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Who takes their work, when named.
    pub deputy: Option<String>,
    pub reason: String,
}

impl AwayWindow {
    pub fn holds_at(&self, now: DateTime<Utc>) -> bool {
        self.from <= now && now < self.until
    }
}

impl Pair {
    /// The initiator as an opinion names them: their name, else their id, else nothing.
    pub fn initiator_label(&self) -> &str {
        self.initiator_name
            .as_deref()
            .or(self.initiator_id.as_deref())
            .unwrap_or("")
    }

    /// What the decision needs of this pair.
    pub fn facts(&self) -> PairFacts<'_> {
        PairFacts {
            labels: &self.labels,
            start_time: self.start_time,
            first_seen: self.first_seen,
            flow_sets: &self.flow_sets,
            sent: self.sent,
            last_sent: self.last_sent,
            confirmed_at: self.confirmed_at,
            silence: self
                .silence
                .as_ref()
                .map(|(until, reason)| (*until, reason.as_str())),
            escalated: self.escalated,
            away: &self.away,
            moved: self.moved.as_ref(),
            moved_to: &self.moved_to,
            moved_in: self.moved_in,
        }
    }
}

/// The calls that act, each at most once per (task, assignee, kind, n). The one list of them:
/// the API's name and path, its pacer and counters, the ledger's `kind`, metric labels and the
/// fake's routes all follow from a variant, and each place that must decide something about a
/// kind matches on it without a catch-all arm — a new variant is a compile error there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumCount, strum::VariantArray)]
pub enum CallKind {
    Expedite,
    /// Escalation: the task copied to someone.
    Cc,
    /// Escalation: a group chat about the task.
    Chat,
    /// A move: the task transferred from an assignee to someone else (转交).
    Transfer,
    /// A move: someone added beside the assignee (加签).
    AddAssignee,
}

impl CallKind {
    /// The ledger's `kind`, and the label of metrics by kind (stored and exported: never change
    /// one of these strings).
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Expedite => "expedite",
            CallKind::Cc => "cc",
            CallKind::Chat => "chat",
            CallKind::Transfer => "transfer",
            CallKind::AddAssignee => "add_assignee",
        }
    }

    /// How many kinds there are.
    pub const COUNT: usize = <CallKind as strum::EnumCount>::COUNT;

    /// Every kind, in declaration order (an array of pacers, counters, series by kind).
    pub const ALL: [CallKind; CallKind::COUNT] = {
        let variants = <CallKind as strum::VariantArray>::VARIANTS;
        let mut all = [CallKind::Expedite; CallKind::COUNT];
        let mut i = 0;
        while i < CallKind::COUNT {
            all[i] = variants[i];
            i += 1;
        }
        all
    };

    /// Its place in [`ALL`](Self::ALL).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The kind a ledger row names, when it is one.
    pub fn parse(kind: &str) -> Option<CallKind> {
        CallKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// The Feishu API it goes through, as metrics and logs name it.
    pub fn api_name(self) -> &'static str {
        match self {
            CallKind::Expedite => "user_task.expediting",
            CallKind::Cc => "user_task.cc",
            CallKind::Chat => "user_task.chat_group",
            CallKind::Transfer => "approval_task.transfer",
            CallKind::AddAssignee => "approval_task.add_assignee",
        }
    }

    /// The path of its call about `task_id` (the id escaped as one path segment).
    pub fn path(self, task_id: &str) -> String {
        use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
        /// RFC 3986's unreserved characters stay; everything else in a task id is escaped.
        const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'~');
        let id = utf8_percent_encode(task_id, ESCAPED);
        let (family, action) = self.family_and_action();
        format!("/open-apis/apaas/v1/{family}/{id}/{action}")
    }

    /// Its path as a router's pattern, the task id a `{task_id}` parameter (the fake's routes).
    pub fn route(self) -> String {
        let (family, action) = self.family_and_action();
        format!("/open-apis/apaas/v1/{family}/{{task_id}}/{action}")
    }

    fn family_and_action(self) -> (&'static str, &'static str) {
        match self {
            CallKind::Expedite => ("user_tasks", "expediting"),
            CallKind::Cc => ("user_tasks", "cc"),
            CallKind::Chat => ("user_tasks", "chat_group"),
            CallKind::Transfer => ("approval_tasks", "transfer"),
            CallKind::AddAssignee => ("approval_tasks", "add_assignee"),
        }
    }

    /// What a task's history says of it.
    pub fn words(self) -> &'static str {
        match self {
            CallKind::Expedite => "reminder",
            CallKind::Cc => "escalated by cc",
            CallKind::Chat => "escalated to a task chat",
            CallKind::Transfer => "transferred",
            CallKind::AddAssignee => "assignee added",
        }
    }

    /// What the call is to the lead: a reminder, an escalation or a move. Reports, metrics,
    /// the task's history and the ledger's settling read this, never a kind's string.
    pub fn family(self) -> Family {
        match self {
            CallKind::Expedite => Family::Reminder,
            CallKind::Cc | CallKind::Chat => Family::Escalation,
            CallKind::Transfer | CallKind::AddAssignee => Family::Move,
        }
    }

    /// Does this call move the task (transfer, add_assignee)?
    pub fn moves(self) -> bool {
        self.family() == Family::Move
    }
}

/// The family of a kind as the ledger stores it; `None` for a kind this version does not know.
pub fn family_of(kind: &str) -> Option<Family> {
    CallKind::parse(kind).map(CallKind::family)
}

/// The three things a call that acts can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Numbered per (task, assignee): the n-th reminder.
    Reminder,
    /// Someone else brought in (cc, a chat); the assignee keeps the task.
    Escalation,
    /// The task moved from the assignee (transfer) or shared (add_assignee).
    Move,
}

/// One assignee named in a call that acts.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub user_id: String,
    pub rule: String,
    pub n: u32,
}

/// The label to show people: Chinese when present, else the first one.
pub fn display_label(labels: &[(String, String)]) -> &str {
    labels
        .iter()
        .find(|(lang, _)| lang == "2052")
        .or_else(|| labels.first())
        .map_or("", |(_, text)| text.as_str())
}
