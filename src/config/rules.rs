//! `[[rules]]` and their `[rules.escalate]`, and the `[expedite]` daily cap, checked once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use toml::Spanned;

use super::raw::*;
use super::validate::{Validator, parse_operator};
use super::*;
use crate::domain::calendar::Calendar;
use crate::domain::opinion::OpinionTemplate;
use crate::domain::rule::{Escalation, LabelGlob, MoveTo};

impl Validator<'_> {
    /// `[expedite] max_per_user_per_day`: 0 means no cap.
    pub(super) fn daily_cap(&self, e: &RawExpedite) -> Result<u32, ConfigError> {
        let Some(cap) = &e.max_per_user_per_day else {
            return Ok(0);
        };
        let v = *cap.get_ref();
        if !(0..=10_000).contains(&v) {
            return Err(self.err(
                "expedite.max_per_user_per_day",
                Some(cap.span()),
                format!("{v} is out of range; use 0..=10000 (0 = no daily cap)"),
            ));
        }
        Ok(v as u32)
    }

    /// `[rules.escalate]` of rule `i`.
    pub(super) fn escalation(
        &self,
        i: usize,
        rule: &str,
        e: Spanned<RawEscalate>,
        max_times: u32,
    ) -> Result<Escalation, ConfigError> {
        let key = |k: &str| format!("rules[{i}].escalate.{k}");
        let span = e.span();
        let e = e.into_inner();
        let after = *e.after_times.get_ref();
        if after < 1 {
            return Err(self.err(
                key("after_times"),
                Some(e.after_times.span()),
                format!("{after} is out of range; escalate after 1 or more unanswered expedites"),
            ));
        }
        if after > i64::from(max_times) {
            return Err(self.err(
                key("after_times"),
                Some(e.after_times.span()),
                format!(
                    "rule \"{rule}\" would never escalate: after_times = {after} but max_times = {max_times}; lower after_times or raise max_times"
                ),
            ));
        }
        let mut cc = Vec::new();
        for c in &e.cc {
            let who = parse_operator(c.get_ref()).map_err(|m| {
                let m = if c.get_ref().trim().is_empty() {
                    "a cc entry is empty; use a kunlun user id or \"initiator\"".to_owned()
                } else {
                    m.replacen("operator_user_id", "a cc entry", 1)
                };
                self.err(key("cc"), Some(c.span()), m)
            })?;
            if !cc.contains(&who) {
                cc.push(who);
            }
        }
        let move_to = match (e.transfer_to, e.add_assignee) {
            (Some(_), Some(a)) => {
                return Err(self.err(
                    key("add_assignee"),
                    Some(a.span()),
                    format!("rule \"{rule}\": set transfer_to or add_assignee, not both"),
                ));
            }
            (Some(t), None) => {
                let id = t.get_ref().trim();
                if id.is_empty() || id == "initiator" {
                    return Err(self.err(
                        key("transfer_to"),
                        Some(t.span()),
                        "transfer_to names the kunlun user id to move the task to (\"initiator\" is not supported here)",
                    ));
                }
                let id = crate::domain::id::check_id("transfer_to", id)
                    .map_err(|m| self.err(key("transfer_to"), Some(t.span()), m))?;
                Some(MoveTo::Transfer(id))
            }
            (None, Some(a)) => {
                let span = a.span();
                let mut ids: Vec<String> = Vec::new();
                for id in a.into_inner() {
                    if id.trim().is_empty() {
                        return Err(self.err(
                            key("add_assignee"),
                            Some(span),
                            "an add_assignee entry is empty; use kunlun user ids",
                        ));
                    }
                    let id = crate::domain::id::check_id("an add_assignee entry", &id)
                        .map_err(|m| self.err(key("add_assignee"), Some(span.clone()), m))?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                if ids.is_empty() || ids.len() > 20 {
                    return Err(self.err(
                        key("add_assignee"),
                        Some(span),
                        format!(
                            "{} people; add_assignee takes 1 to 20 (Feishu's limit)",
                            ids.len()
                        ),
                    ));
                }
                Some(MoveTo::AddAssignee(ids))
            }
            (None, None) => None,
        };
        if cc.is_empty() && !e.chat && move_to.is_none() {
            return Err(self.err(
                format!("rules[{i}].escalate"),
                Some(span),
                format!("rule \"{rule}\": escalate does nothing; list people in cc, set chat = true, or move the task with transfer_to or add_assignee"),
            ));
        }
        let chat_name = match e.chat_name {
            Some(t) => t,
            None => OpinionTemplate::parse(DEFAULT_CHAT_NAME).expect("default chat name is valid"),
        };
        Ok(Escalation {
            after_times: after as u32,
            wait: e.wait.map(|w| w.0).unwrap_or_default(),
            cc,
            chat: e.chat,
            chat_name,
            move_to,
        })
    }

    /// `[[rules]]`, in order, with the warnings a lead should see (shadowed rules, exclusions).
    pub(super) fn rules(
        &self,
        raw: Vec<Spanned<RawRule>>,
        users: &[User],
        teams: &[String],
        calendars: &[Calendar],
        operator: Option<&Operator>,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Rule>, ConfigError> {
        let calendar_index: HashMap<String, usize> = calendars
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        // The teams users are in, and those `[[teams]]` names (whose people a document may hold).
        let known_teams: HashSet<&str> = users
            .iter()
            .filter_map(|u| u.team.as_deref())
            .chain(teams.iter().map(String::as_str))
            .collect();
        let mut rules: Vec<Rule> = Vec::new();
        for (i, r) in raw.into_iter().enumerate() {
            let rule_span = r.span();
            let r = r.into_inner();
            let key = |k: &str| format!("rules[{i}].{k}");
            let name = r.name.trim().to_owned();
            if name.is_empty() {
                return Err(self.err(key("name"), Some(rule_span), "rule name is empty"));
            }
            if !plain_name(&name) {
                return Err(self.err(
                    key("name"),
                    Some(rule_span),
                    format!("rule name {name:?} holds a control or direction character"),
                ));
            }
            if rules.iter().any(|x| x.name == name) {
                return Err(self.err(
                    key("name"),
                    Some(rule_span),
                    format!("rule \"{name}\" is defined twice"),
                ));
            }
            for (k, list) in [("users", &r.users), ("teams", &r.teams)] {
                if list.as_ref().is_some_and(Vec::is_empty) {
                    warnings.push(format!(
                        "rules[{i}].{k} = [] is the same as leaving it out: rule \"{name}\" selects every watched user; list the {k} it is for, or remove the key"
                    ));
                }
            }
            let (r_users, r_teams) = (r.users.unwrap_or_default(), r.teams.unwrap_or_default());
            for u in &r_users {
                if !users.iter().any(|x| x.id == *u.get_ref()) {
                    return Err(self.err(
                        key("users"),
                        Some(u.span()),
                        format!("rule \"{name}\" names user \"{}\", who is not in [[users]]; add the user or fix the id", u.get_ref()),
                    ));
                }
            }
            for t in &r_teams {
                if !known_teams.contains(t.get_ref().as_str()) {
                    return Err(self.err(
                        key("teams"),
                        Some(t.span()),
                        format!("rule \"{name}\" names team \"{}\", which no user in [[users]] belongs to; {}", t.get_ref(), teams_known(users)),
                    ));
                }
            }
            let api_ids = match r.api_ids {
                None => None,
                Some(ids) => {
                    let span = ids.span();
                    let mut ids: Vec<String> = ids
                        .into_inner()
                        .into_iter()
                        .map(|s| s.trim().to_owned())
                        .collect();
                    ids.sort();
                    ids.dedup();
                    if ids.is_empty() || ids.iter().any(|s| s.is_empty()) {
                        return Err(self.err(key("api_ids"), Some(span), "api_ids must list 1 to 100 non-empty flow api ids (or be left out for every flow)"));
                    }
                    if ids.len() > 100 {
                        return Err(self.err(
                            key("api_ids"),
                            Some(span),
                            format!(
                                "{} api_ids; Feishu accepts at most 100 per listing",
                                ids.len()
                            ),
                        ));
                    }
                    Some(ids)
                }
            };
            let max_times = match (&r.repeat, &r.max_times) {
                (_, Some(m)) => {
                    let v = *m.get_ref();
                    if !(0..=1000).contains(&v) {
                        return Err(self.err(key("max_times"), Some(m.span()), format!("{v} is out of range; use 0..=1000 (0 = never expedite what this rule matches)")));
                    }
                    v as u32
                }
                (Some(_), None) => {
                    return Err(self.err(
                        key("repeat"),
                        Some(rule_span),
                        format!("rule \"{name}\" has repeat but no max_times; say how many expedites at most (max_times = 3)"),
                    ));
                }
                (None, None) => 1,
            };
            let repeat: Vec<Duration> = match &r.repeat {
                None => Vec::new(),
                Some(rep) => {
                    let gaps = &rep.get_ref().0;
                    if gaps.is_empty() {
                        return Err(self.err(
                            key("repeat"),
                            Some(rep.span()),
                            "repeat lists no gap; give one (\"12h\") or a ladder ([\"4h\", \"12h\", \"1d\"]), or leave it out to expedite once",
                        ));
                    }
                    if gaps.iter().any(|g| g.is_zero()) {
                        return Err(self.err(
                            key("repeat"),
                            Some(rep.span()),
                            "every repeat gap must be above 0s; leave repeat out to expedite once",
                        ));
                    }
                    gaps.clone()
                }
            };
            let calendar = match &r.calendar {
                None => None,
                Some(c) => match calendar_index.get(c.get_ref()) {
                    Some(idx) => Some(*idx),
                    None => {
                        let known: Vec<&str> = calendars.iter().map(|c| c.name.as_str()).collect();
                        return Err(self.err(
                            key("calendar"),
                            Some(c.span()),
                            format!(
                                "rule \"{name}\" uses calendar \"{}\", which is not defined; define it in [[calendars]] (known: {})",
                                c.get_ref(),
                                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                            ),
                        ));
                    }
                },
            };
            let age_clock = match &r.age_clock {
                None => AgeClock::Wall,
                Some(a) => match a.get_ref() {
                    AgeClockName::Wall => AgeClock::Wall,
                    AgeClockName::Working => {
                        if calendar.is_none() {
                            return Err(self.err(
                                key("age_clock"),
                                Some(a.span()),
                                format!(
                                    "rule \"{name}\": age_clock = \"working\" needs a calendar"
                                ),
                            ));
                        }
                        AgeClock::Working
                    }
                },
            };
            let rule_operator = r
                .operator_user_id
                .as_deref()
                .map(parse_operator)
                .transpose()
                .map_err(|m| self.err(key("operator_user_id"), Some(rule_span.clone()), m))?;
            let Some(operator) = rule_operator.or_else(|| operator.cloned()) else {
                return Err(self.err(
                    key("operator_user_id"),
                    Some(rule_span),
                    format!("rule \"{name}\" has no operator: set operator_user_id in the rule or in [expedite]"),
                ));
            };
            let opinion = match r.opinion {
                Some(o) => o,
                None => OpinionTemplate::parse(DEFAULT_OPINION).expect("default opinion is valid"),
            };
            // An exclusion rule sends nothing, whenever it matches: its `after` means nothing.
            if r.after.0.is_zero() && max_times > 0 {
                warnings.push(format!(
                    "rule \"{name}\": after = 0s expedites a task as soon as it is seen"
                ));
            }
            if max_times == 0 {
                warnings.push(format!(
                    "rule \"{name}\": max_times = 0 — the tasks it matches are never expedited (an exclusion rule)"
                ));
            }
            let escalate = match r.escalate {
                None => None,
                Some(e) => Some(self.escalation(i, &name, e, max_times)?),
            };
            rules.push(Rule {
                name,
                users: r_users.into_iter().map(|s| s.into_inner()).collect(),
                teams: r_teams.into_iter().map(|s| s.into_inner()).collect(),
                api_ids,
                label: r.label.as_deref().map(LabelGlob::new),
                after: r.after.0,
                repeat,
                max_times,
                calendar,
                age_clock,
                opinion,
                operator,
                escalate,
                first: r.first.is_some_and(|f| *f.get_ref()),
                owner: None,
            });
        }
        for (b, later) in rules.iter().enumerate() {
            if let Some(earlier) = rules[..b].iter().find(|a| a.shadows(later)) {
                warnings.push(format!(
                    "rule \"{}\" is fully shadowed by the earlier rule \"{}\": every task it matches is owned by \"{}\"; move it up or narrow the earlier one",
                    later.name, earlier.name, earlier.name
                ));
            }
        }
        if rules.is_empty() {
            warnings.push(
                "no [[rules]]: tasks are listed and tracked, but nothing is expedited".to_owned(),
            );
        }
        Ok(rules)
    }
}

/// A name shown in logs, pages, cards and metric labels: no control or direction characters.
pub(super) fn plain_name(name: &str) -> bool {
    !name.chars().any(|c| {
        c.is_control()
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    })
}

/// "known teams: a, b" (or that no user has one), for an error naming an unknown team.
pub(super) fn teams_known(users: &[User]) -> String {
    let mut teams: Vec<&str> = users.iter().filter_map(|u| u.team.as_deref()).collect();
    teams.sort_unstable();
    teams.dedup();
    if teams.is_empty() {
        "no user in [[users]] has a team".to_owned()
    } else {
        format!("known teams: {}", teams.join(", "))
    }
}
