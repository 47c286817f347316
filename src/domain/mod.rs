//! The domain, free of clocks, databases and HTTP: rules, calendars, opinions, the decision
//! and the planning of calls. Everything here is a pure function of its arguments, `now`
//! included, so tests can state any moment.

pub mod calendar;
pub mod calls;
pub mod decide;
pub mod digest;
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
        }
    }
}

/// The calls that act, each at most once per (task, assignee, kind, n).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    Expedite,
    /// Escalation: the task copied to someone.
    Cc,
    /// Escalation: a group chat about the task.
    Chat,
}

impl CallKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Expedite => "expedite",
            CallKind::Cc => "cc",
            CallKind::Chat => "chat",
        }
    }
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
