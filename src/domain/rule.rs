//! Rules and the people they apply to, as the lead configured them (validated by `config`).

use std::fmt;
use std::time::Duration;

use super::Policy;
use super::opinion::OpinionTemplate;

/// Who the expediting call is made on behalf of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    User(String),
    /// The task's initiator: the requester nudging the approver.
    Initiator,
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operator::User(id) => write!(f, "{id}"),
            Operator::Initiator => write!(f, "initiator"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: Option<String>,
    pub team: Option<String>,
}

impl User {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeClock {
    Wall,
    Working,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub users: Vec<String>,
    pub teams: Vec<String>,
    /// Sorted and deduplicated; `None` means every flow.
    pub api_ids: Option<Vec<String>>,
    pub label: Option<LabelGlob>,
    pub after: Duration,
    /// Gaps between expedites: the 2nd comes `repeat[0]` after the 1st, the 3rd `repeat[1]`
    /// after the 2nd, …, the last gap repeating. Empty: expedite once.
    pub repeat: Vec<Duration>,
    /// 0 makes the rule an exclusion: it owns the tasks it matches and never expedites them.
    pub max_times: u32,
    /// Index into [`Config::calendars`].
    pub calendar: Option<usize>,
    pub age_clock: AgeClock,
    pub opinion: OpinionTemplate,
    pub operator: Operator,
    pub escalate: Option<Escalation>,
    /// A file rule that runs before every team's rules (`first = true`).
    pub first: bool,
    /// The team whose document holds it (`None`: the config file).
    pub owner: Option<String>,
}

/// What to do when reminders do not move a task.
#[derive(Debug, Clone)]
pub struct Escalation {
    /// Escalate once this many expedites of an assignee went unanswered…
    pub after_times: u32,
    /// …and this long has passed since the last one.
    pub wait: Duration,
    /// Copy the task to these people.
    pub cc: Vec<Operator>,
    /// Open (or invite into) one group chat about the task.
    pub chat: bool,
    pub chat_name: OpinionTemplate,
    /// Move the task from the overdue assignees (`transfer_to`, `add_assignee`).
    pub move_to: Option<MoveTo>,
}

/// Where an escalation moves a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveTo {
    /// Transfer it from the overdue assignees to this person.
    Transfer(String),
    /// Add these people beside the overdue assignees.
    AddAssignee(Vec<String>),
}

impl MoveTo {
    pub fn kind(&self) -> super::CallKind {
        match self {
            MoveTo::Transfer(_) => super::CallKind::Transfer,
            MoveTo::AddAssignee(_) => super::CallKind::AddAssignee,
        }
    }

    pub fn people(&self) -> Vec<String> {
        match self {
            MoveTo::Transfer(id) => vec![id.clone()],
            MoveTo::AddAssignee(ids) => ids.clone(),
        }
    }
}

impl Rule {
    /// The gap before expedite number `n` (2 and up): the ladder's step, its last repeating.
    pub fn gap_before(&self, n: u32) -> Option<Duration> {
        let step = (n.max(2) - 2) as usize;
        self.repeat
            .get(step)
            .or_else(|| self.repeat.last())
            .copied()
    }
}

impl Rule {
    /// Does this rule select the given assignee (by its `users` and `teams`, whatever the label)?
    pub fn selects_user(&self, user: &User) -> bool {
        selects(&self.users, &self.teams, user)
    }

    /// Does this rule select the given assignee and label? Flow (`api_ids`) matching is
    /// decided by which listing returned the task, not here.
    pub fn selects(&self, user: &User, labels: &[(String, String)]) -> bool {
        let user_ok = self.selects_user(user);
        let label_ok = match &self.label {
            None => true,
            Some(glob) => labels.iter().any(|(_, text)| glob.matches(text)),
        };
        user_ok && label_ok
    }
}

impl Rule {
    /// Does this rule match everything `later` matches, so that `later` never owns anything?
    pub fn shadows(&self, later: &Rule) -> bool {
        let everyone = self.users.is_empty() && self.teams.is_empty();
        let people = everyone
            || (!(later.users.is_empty() && later.teams.is_empty())
                && later.users.iter().all(|u| self.users.contains(u))
                && later.teams.iter().all(|t| self.teams.contains(t)));
        let flows = self.api_ids.is_none() || self.api_ids == later.api_ids;
        let label = match (&self.label, &later.label) {
            (None, _) => true,
            (Some(a), Some(b)) => a.pattern == b.pattern,
            (Some(_), None) => false,
        };
        people && flows && label
    }
}

/// A `*`/`?` glob on a task label.
#[derive(Debug, Clone)]
pub struct LabelGlob {
    pub pattern: String,
    matcher: wildmatch::WildMatch,
}

impl LabelGlob {
    pub fn new(pattern: &str) -> Self {
        Self {
            pattern: pattern.to_owned(),
            matcher: wildmatch::WildMatch::new(pattern),
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        self.matcher.matches(text)
    }
}

impl Rule {
    /// The rule in plain words, as `check` prints it.
    pub fn describe(&self, policy: &Policy<'_>) -> String {
        let r = self;
        let mut who = Vec::new();
        if !r.users.is_empty() {
            who.push(format!("users {}", r.users.join(", ")));
        }
        if !r.teams.is_empty() {
            who.push(format!("team {}", r.teams.join(", ")));
        }
        if who.is_empty() {
            who.push("everyone".into());
        }
        if let Some(ids) = &r.api_ids {
            who.push(format!("flow {}", ids.join(", ")));
        }
        if let Some(l) = &r.label {
            who.push(format!("label {}", l.pattern));
        }
        let d = super::opinion::human_duration;
        let clock = if r.age_clock == AgeClock::Working {
            " working time"
        } else {
            ""
        };
        let when = if r.max_times == 0 {
            "never expedited (max_times = 0)".to_owned()
        } else {
            match r.repeat.as_slice() {
                [] => format!("once after {}{clock}", d(r.after)),
                [gap] => format!(
                    "first after {}{clock}, then every {}{clock}, at most {} times",
                    d(r.after),
                    d(*gap),
                    r.max_times
                ),
                ladder => {
                    let steps: Vec<String> = ladder
                        .iter()
                        .enumerate()
                        .map(|(i, g)| format!("the {} {} later", ordinal(i as u32 + 2), d(*g)))
                        .collect();
                    format!(
                        "first after {}{clock}, {}{clock}, then every {}{clock}, at most {} times",
                        d(r.after),
                        steps.join(", "),
                        d(*ladder.last().expect("a ladder has steps")),
                        r.max_times
                    )
                }
            }
        };
        let escalate = match &r.escalate {
            None => String::new(),
            Some(e) => {
                let mut how = Vec::new();
                if !e.cc.is_empty() {
                    let cc: Vec<String> = e.cc.iter().map(|p| p.to_string()).collect();
                    how.push(format!("copies the task to {}", cc.join(", ")));
                }
                if e.chat {
                    how.push("opens a group chat about it".to_owned());
                }
                match &e.move_to {
                    Some(MoveTo::Transfer(id)) => how.push(format!("transfers it to {id}")),
                    Some(MoveTo::AddAssignee(ids)) => {
                        how.push(format!("adds {} beside the assignees", ids.join(", ")))
                    }
                    None => {}
                }
                format!(
                    "; after {} unanswered expedite(s){} it {}",
                    e.after_times,
                    if e.wait.is_zero() {
                        String::new()
                    } else {
                        format!(" and {} more{clock}", d(e.wait))
                    },
                    how.join(" and ")
                )
            }
        };
        let cal = match r.calendar {
            Some(c) => format!(
                "; {} {} ({})",
                policy.calendars[c].describe(),
                policy.timezone,
                policy.calendars[c].name
            ),
            None => "; any time".into(),
        };
        let op = match &r.operator {
            Operator::User(id) => format!("; as {id}"),
            Operator::Initiator => "; as the task's initiator".into(),
        };
        format!(
            "{}: {}; {}{escalate}{cal}{op}",
            r.name,
            who.join(", "),
            when
        )
    }
}

/// 2nd, 3rd, 4th, … for the expedites of a ladder.
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The one "users and teams" selector of rules and digests: nobody named means everyone;
/// otherwise the user is named, or is in a named team.
pub fn selects(users: &[String], teams: &[String], user: &User) -> bool {
    (users.is_empty() && teams.is_empty())
        || users.contains(&user.id)
        || user
            .team
            .as_ref()
            .is_some_and(|t| teams.iter().any(|x| x == t))
}
