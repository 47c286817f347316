//! `[[teams]]` and `[console] admins`: who leads or views which team on the console. The teams
//! are the ones `[[users]] team` names; a team with no entry here has no leads (admins only).

use std::collections::HashSet;

use toml::Spanned;

use super::raw::RawTeam;
use super::{ConfigError, ConsoleConfig, SignIn, User};
use crate::config::validate::Validator;

/// A `[[teams]]` entry.
#[derive(Debug, Clone)]
pub struct Team {
    pub name: String,
    /// open_ids or emails: they read the team's tasks and act on them.
    pub leads: Vec<String>,
    /// open_ids or emails: they read the team's tasks.
    pub viewers: Vec<String>,
    /// The ids a team document may watch (beside the file's `[[users]]` of the team).
    pub members: Vec<String>,
    /// Ids the team may name as a deputy (or operator, cc, move target) besides its own users.
    pub may_name: Vec<String>,
    /// The custom bots its document's digests may post to (`webhook = "NAME"`).
    pub webhooks: Vec<TeamWebhook>,
}

/// `[[teams]] webhooks.NAME`: a custom bot for a team's digests; the lead names it, never
/// types its secrets.
#[derive(Debug, Clone)]
pub struct TeamWebhook {
    pub name: String,
    pub url: super::SecretSource,
    pub sign: Option<super::SecretSource>,
}

/// Does an `admins`, `leads` or `viewers` entry name this person (by open_id, or by the email
/// of their last sign-in, in any case)?
pub fn names_person(entry: &str, open_id: Option<&str>, email: Option<&str>) -> bool {
    open_id == Some(entry) || email.is_some_and(|e| entry.eq_ignore_ascii_case(e))
}

impl Validator<'_> {
    /// One person entry: an open_id or an email, one word.
    fn person(&self, key: String, p: Spanned<String>) -> Result<String, ConfigError> {
        let span = p.span();
        let text = p.into_inner();
        let text = text.trim();
        if text.is_empty()
            || text == "*"
            || text
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == ',')
        {
            return Err(self.err(
                key,
                Some(span),
                format!("{text:?} is not one open_id or email"),
            ));
        }
        Ok(text.to_owned())
    }

    pub(super) fn teams(
        &self,
        raw: Vec<Spanned<RawTeam>>,
        users: &[User],
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Team>, ConfigError> {
        let mut seen = HashSet::new();
        let mut teams = Vec::new();
        for (i, t) in raw.into_iter().enumerate() {
            let t = t.into_inner();
            let span = t.name.span();
            let name = t.name.into_inner().trim().to_owned();
            let key = |k: &str| format!("teams[{i}].{k}");
            if name.is_empty() || name.chars().any(|c| c.is_control() || c == '/' || c == ',') {
                return Err(self.err(
                    key("name"),
                    Some(span),
                    format!("{name:?} is not a team name (no \"/\", \",\" or control characters)"),
                ));
            }
            if !seen.insert(name.clone()) {
                return Err(self.err(
                    key("name"),
                    Some(span),
                    format!("team \"{name}\" is listed twice"),
                ));
            }
            if !users
                .iter()
                .any(|u| u.team.as_deref() == Some(name.as_str()))
            {
                warnings.push(format!(
                    "teams[{i}]: no [[users]] entry has team = \"{name}\": its leads see \
                        nothing until the file or its document watches someone"
                ));
            }
            let people = |k: &str, list: Option<Vec<Spanned<String>>>| {
                list.unwrap_or_default()
                    .into_iter()
                    .map(|p| self.person(key(k), p))
                    .collect::<Result<Vec<_>, _>>()
            };
            let ids = |k: &str, list: Option<Vec<Spanned<String>>>| {
                list.unwrap_or_default()
                    .into_iter()
                    .map(|p| {
                        crate::domain::id::check_id("user id", p.get_ref())
                            .map_err(|m| self.err(key(k), Some(p.span()), m))
                    })
                    .collect::<Result<Vec<_>, _>>()
            };
            let mut webhooks = Vec::new();
            for (hook, w) in t.webhooks.unwrap_or_default() {
                let table = format!("teams[{i}].webhooks.{hook}");
                let var = format!("EXPEDITER_TEAM_{}_{}", name, hook)
                    .to_uppercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
                let url = self.secret(&table, "url", &var, false, None, Some(w.url_file), None)?;
                let sign = self.secret(
                    &table,
                    "sign_secret",
                    &var,
                    false,
                    None,
                    w.sign_secret_file,
                    None,
                )?;
                webhooks.push(TeamWebhook {
                    name: hook,
                    url: url.expect("a file was given"),
                    sign,
                });
            }
            teams.push(Team {
                webhooks,
                leads: people("leads", t.leads)?,
                viewers: people("viewers", t.viewers)?,
                members: ids("members", t.members)?,
                may_name: ids("may_name", t.may_name)?,
                name,
            });
        }
        Ok(teams)
    }

    /// `[console] admins`, and what roles need: once a team has a lead or a viewer, admins are
    /// required and sign-in is with Feishu (a role belongs to a person, and only Feishu says
    /// who someone is).
    pub(super) fn roles(
        &self,
        admins: Option<Vec<Spanned<String>>>,
        console: Option<&mut ConsoleConfig>,
        teams: &[Team],
    ) -> Result<(), ConfigError> {
        let admins = admins
            .unwrap_or_default()
            .into_iter()
            .map(|p| self.person("console.admins".into(), p))
            .collect::<Result<Vec<_>, _>>()?;
        let roles = teams
            .iter()
            .any(|t| !t.leads.is_empty() || !t.viewers.is_empty());
        let Some(console) = console else {
            if roles {
                return Err(self.err(
                    "teams",
                    None,
                    "team leads and viewers sign in to the console: add [console] with sign_in \
                        = \"feishu\" and admins",
                ));
            }
            return Ok(());
        };
        if (roles || !admins.is_empty()) && !matches!(console.sign_in, SignIn::Feishu { .. }) {
            return Err(self.err(
                "console.sign_in",
                None,
                "roles (admins, team leads and viewers) need sign_in = \"feishu\": only Feishu \
                    says who someone is",
            ));
        }
        if let SignIn::Feishu { allow, .. } = &console.sign_in
            && allow.is_empty()
            && admins.is_empty()
            && !roles
        {
            return Err(self.err(
                "console.allow",
                None,
                "sign_in = \"feishu\" needs allow (or admins, or a team's leads or viewers): the \
                    open_ids or emails who may sign in, or [\"*\"] for anyone the app admits; with \
                    none nobody could sign in",
            ));
        }
        if roles && admins.is_empty() {
            return Err(self.err(
                "console.admins",
                None,
                "a team has leads or viewers, so admins is required: the open_ids or emails \
                    who see and do everything",
            ));
        }
        console.admins = admins;
        Ok(())
    }
}
