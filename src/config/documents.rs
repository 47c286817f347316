//! Team documents: a team's own watched users, rules and digests, written by its leads as TOML
//! in the file's words, checked by the file's validator and limited to what the team may name.
//! Where they stand among the file's rules: the file's `first = true` rules, then every team's,
//! then the rest of the file's.

use std::collections::HashSet;
use std::path::PathBuf;

use toml::Spanned;

use super::raw::{RawDocument, RawRule};
use super::validate::Validator;
use super::*;
use crate::store::TeamVersion;

/// The file's own users, rules and digests, kept to put the documents among them again.
#[derive(Debug, Clone, Default)]
pub struct FileParts {
    pub users: Vec<User>,
    pub rules: Vec<Rule>,
    pub digests: Vec<Digest>,
    /// The file's warnings.
    pub warnings: Vec<String>,
}

/// A team's document, checked: names already `team/name`, selections already the team's.
#[derive(Debug, Clone)]
pub struct TeamDocument {
    pub team: String,
    pub users: Vec<User>,
    pub rules: Vec<Rule>,
    pub digests: Vec<Digest>,
    pub warnings: Vec<String>,
}

/// A stored version the config was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentInUse {
    pub team: String,
    pub version: i64,
    /// The users it watches (also when it does not validate: they are listed, not reminded).
    pub users: Vec<String>,
    /// Why the version is not in force (its users are held), if it is not.
    pub problem: Option<String>,
}

/// The rules in the order they decide: the file's `first` ones, the teams', the file's rest.
pub(super) fn in_order(teams: Vec<Rule>, file: Vec<Rule>) -> Vec<Rule> {
    let (first, rest): (Vec<Rule>, Vec<Rule>) = file.into_iter().partition(|r| r.first);
    first.into_iter().chain(teams).chain(rest).collect()
}

/// The name a document's source goes by in errors: `team NAME`.
fn source(team: &str) -> PathBuf {
    PathBuf::from(format!("team {team}"))
}

impl Config {
    /// Who may be named in `team`'s document (operator, cc, move target): its users, those its
    /// `[[teams]]` entry lists in `may_name`, and `initiator`.
    fn nameable(team: &Team, users: &[User]) -> HashSet<String> {
        users
            .iter()
            .map(|u| u.id.clone())
            .chain(team.may_name.iter().cloned())
            .chain(["initiator".to_owned()])
            .collect()
    }

    /// The users each team's document in force watches, but `except`'s.
    fn document_users(&self, except: &str) -> Vec<(&str, &str)> {
        self.documents
            .iter()
            .filter(|d| d.team != except)
            .flat_map(|d| d.users.iter().map(|u| (d.team.as_str(), u.as_str())))
            .collect()
    }

    /// Checks `text` as `team`'s document against this config: the file's validator (errors
    /// with line and column), then what a team may do — watch only its `members` (when set) and
    /// nobody the file or another team watches, name only its own people, post only to the
    /// webhooks its entry lists.
    pub fn check_document(&self, team: &str, text: &str) -> Result<TeamDocument, ConfigError> {
        let file = source(team);
        let v = Validator { text, file: &file };
        let Some(entry) = self.teams.iter().find(|t| t.name == team) else {
            return Err(ConfigError {
                file,
                key: None,
                position: None,
                message: format!("there is no [[teams]] entry named \"{team}\""),
            });
        };
        let raw: RawDocument = v.deserialize()?;
        let mut users = v.users(raw.users, false)?;
        for (i, u) in users.iter_mut().enumerate() {
            let key = format!("users[{i}]");
            match u.team.as_deref() {
                Some(t) if t != team => {
                    return Err(v.err(
                        format!("{key}.team"),
                        None,
                        format!("user \"{}\" is in team \"{t}\"; a team's document watches only its own team (leave team out)", u.id),
                    ));
                }
                _ => u.team = Some(team.to_owned()),
            }
            if !entry.members.is_empty() && !entry.members.contains(&u.id) {
                return Err(v.err(
                    format!("{key}.id"),
                    None,
                    format!("user \"{}\" is not among the team's members; an admin adds them to members in its [[teams]] entry", u.id),
                ));
            }
            // The file's own entries of this team are the document's to replace; anyone else
            // the file watches is the file's.
            if let Some(f) = self.base.users.iter().find(|f| f.id == u.id)
                && f.team.as_deref() != Some(team)
            {
                return Err(v.err(
                    format!("{key}.id"),
                    None,
                    format!("user \"{}\" is watched by the config file; a user is owned once (the file or one team)", u.id),
                ));
            }
            if let Some((other, _)) = self
                .document_users(team)
                .into_iter()
                .find(|(_, id)| *id == u.id)
            {
                return Err(v.err(
                    format!("{key}.id"),
                    None,
                    format!("user \"{}\" is watched by team \"{other}\"'s document; a user is owned once", u.id),
                ));
            }
        }
        let team_users = users.clone();
        let nameable = Self::nameable(entry, &team_users);
        for (i, r) in raw.rules.iter().enumerate() {
            self.rule_names_only(&v, i, r, &nameable)?;
        }
        let mut warnings = Vec::new();
        let mut rules = v.rules(
            raw.rules,
            &team_users,
            &self.calendars,
            self.expedite.operator.as_ref(),
            &mut warnings,
        )?;
        let mut digests = v.digests(
            raw.digests,
            &team_users,
            &self.calendars,
            Some(&entry.webhooks),
            &mut warnings,
        )?;
        for r in &mut rules {
            r.name = format!("{team}/{}", r.name);
            if r.users.is_empty() && r.teams.is_empty() {
                r.teams = vec![team.to_owned()];
            }
        }
        for d in &mut digests {
            d.name = format!("{team}/{}", d.name);
            if d.users.is_empty() && d.teams.is_empty() {
                d.teams = vec![team.to_owned()];
            }
        }
        Ok(TeamDocument {
            team: team.to_owned(),
            users,
            rules,
            digests,
            warnings,
        })
    }

    /// A rule in a team's document names only the team's people (operator, cc, move targets);
    /// `first` is the file's.
    fn rule_names_only(
        &self,
        v: &Validator<'_>,
        i: usize,
        r: &Spanned<RawRule>,
        nameable: &HashSet<String>,
    ) -> Result<(), ConfigError> {
        let span = r.span();
        let r = r.get_ref();
        let key = |k: &str| format!("rules[{i}].{k}");
        let outside = |k: &str, id: &str, span| {
            Err(v.err(
                key(k),
                Some(span),
                format!("\"{id}\" is not one of the team's users, initiator, or an id its [[teams]] entry lists in may_name"),
            ))
        };
        if r.name.contains('/') {
            return Err(v.err(
                key("name"),
                Some(span),
                "a team's rule name has no \"/\" (it is shown as team/name)",
            ));
        }
        if let Some(f) = &r.first {
            return Err(v.err(
                key("first"),
                Some(f.span()),
                "first is for the file's rules (org-wide rules that run before every team's)",
            ));
        }
        if let Some(op) = &r.operator_user_id
            && !nameable.contains(op.trim())
        {
            return outside("operator_user_id", op.trim(), span);
        }
        if let Some(e) = &r.escalate {
            let e = e.get_ref();
            for c in &e.cc {
                if !nameable.contains(c.get_ref().trim()) {
                    return outside("escalate.cc", c.get_ref().trim(), c.span());
                }
            }
            if let Some(t) = &e.transfer_to
                && !nameable.contains(t.get_ref().trim())
            {
                return outside("escalate.transfer_to", t.get_ref().trim(), t.span());
            }
            if let Some(a) = &e.add_assignee
                && let Some(id) = a.get_ref().iter().find(|id| !nameable.contains(id.trim()))
            {
                return outside("escalate.add_assignee", id.trim(), a.span());
            }
        }
        Ok(())
    }

    /// This config with the teams' stored versions in force: each team's users beside the
    /// file's, its rules between the file's `first` ones and the rest, its digests beside the
    /// file's. A team whose document is in force owns its people: the file's `[[users]]` of
    /// that team and the file's rules for that team alone (`teams = [it]`, no `first`) give way
    /// to it (what `team import --from-config` moved), said as a warning. A version that does not validate against it is not in force: its users are
    /// listed but held by an exclusion rule, and its problem said ([`DocumentInUse::problem`]).
    pub fn with_documents(&self, versions: &[TeamVersion]) -> Config {
        let mut out = self.clone();
        out.documents.clear();
        out.warnings = self.base.warnings.clone();
        out.users = self.base.users.clone();
        out.digests = self.base.digests.clone();
        let mut team_rules = Vec::new();
        let mut held = Vec::new();
        for team in &self.teams {
            let Some(v) = versions.iter().find(|v| v.team == team.name) else {
                continue;
            };
            match out.check_document(&team.name, &v.document) {
                Ok(doc) => {
                    out.supersede(&team.name, v.version);
                    out.documents.push(DocumentInUse {
                        team: team.name.clone(),
                        version: v.version,
                        users: doc.users.iter().map(|u| u.id.clone()).collect(),
                        problem: None,
                    });
                    out.users.extend(doc.users);
                    team_rules.extend(doc.rules);
                    out.digests.extend(doc.digests);
                }
                Err(e) => {
                    let users = out.loose_users(&team.name, &v.document);
                    out.documents.push(DocumentInUse {
                        team: team.name.clone(),
                        version: v.version,
                        users: users.iter().map(|u| u.id.clone()).collect(),
                        problem: Some(e.to_string()),
                    });
                    if !users.is_empty() {
                        held.push(hold_rule(&team.name, v.version, &users, self));
                    }
                    out.users.extend(users);
                }
            }
        }
        let file_rules = self
            .base
            .rules
            .iter()
            .filter(|r| {
                !out.documents
                    .iter()
                    .any(|d| d.problem.is_none() && Self::team_only(r, &d.team))
            })
            .cloned()
            .collect();
        out.rules = held
            .into_iter()
            .chain(in_order(team_rules, file_rules))
            .collect();
        out
    }

    /// A file rule for one team alone: the team's document replaces it.
    fn team_only(rule: &Rule, team: &str) -> bool {
        !rule.first && rule.users.is_empty() && rule.teams.len() == 1 && rule.teams[0] == team
    }

    /// The file's entries a team's document in force replaces: gone from the users, said.
    fn supersede(&mut self, team: &str, version: i64) {
        let before = self.users.len();
        self.users.retain(|u| u.team.as_deref() != Some(team));
        let users = before - self.users.len();
        let rules: Vec<&str> = self
            .base
            .rules
            .iter()
            .filter(|r| Self::team_only(r, team))
            .map(|r| r.name.as_str())
            .collect();
        if users > 0 || !rules.is_empty() {
            self.warnings.push(format!(
                "team \"{team}\"'s document (version {version}) replaces the file's {users} [[users]] with team = \"{team}\"{}; remove them from the file",
                if rules.is_empty() {
                    String::new()
                } else {
                    format!(" and its rules {}", rules.join(", "))
                }
            ));
        }
    }

    /// The users a document that does not validate names, as far as they can be read: ids
    /// nobody else watches.
    fn loose_users(&self, team: &str, text: &str) -> Vec<User> {
        #[derive(serde::Deserialize)]
        struct Loose {
            #[serde(default)]
            users: Vec<toml::Value>,
        }
        let Ok(loose) = toml::from_str::<Loose>(text) else {
            return Vec::new();
        };
        let taken: HashSet<&str> = self.users.iter().map(|u| u.id.as_str()).collect();
        loose
            .users
            .iter()
            .filter_map(|u| u.get("id")?.as_str())
            .filter_map(|id| crate::domain::id::check_id("user id", id).ok())
            .filter(|id| !taken.contains(id.as_str()))
            .map(|id| User {
                id,
                name: None,
                team: Some(team.to_owned()),
            })
            .collect()
    }

    /// The teams whose stored version is not in force, with why.
    pub fn document_problems(&self) -> impl Iterator<Item = (&str, i64, &str)> {
        self.documents
            .iter()
            .filter_map(|d| Some((d.team.as_str(), d.version, d.problem.as_deref()?)))
    }
}

/// An exclusion for the users of a version that does not validate: listed, never reminded,
/// until a valid version is saved (or the file fixed).
fn hold_rule(team: &str, version: i64, users: &[User], config: &Config) -> Rule {
    Rule {
        name: format!("{team}/(version {version} not in force)"),
        users: users.iter().map(|u| u.id.clone()).collect(),
        teams: Vec::new(),
        api_ids: None,
        label: None,
        after: std::time::Duration::ZERO,
        repeat: Vec::new(),
        max_times: 0,
        calendar: None,
        age_clock: AgeClock::Wall,
        opinion: crate::domain::opinion::OpinionTemplate::parse(DEFAULT_OPINION)
            .expect("default opinion is valid"),
        operator: config
            .expedite
            .operator
            .clone()
            .unwrap_or(Operator::Initiator),
        escalate: None,
        first: true,
    }
}
