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

    /// The users each team's document in force watches, but `except`'s: looked up once per
    /// document user, so a set.
    fn document_users(&self, except: &str) -> HashSet<&str> {
        self.documents
            .iter()
            .filter(|d| d.team != except)
            .flat_map(|d| d.users.iter().map(String::as_str))
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
        let spans: Vec<_> = raw.users.iter().map(|u| Some(u.span())).collect();
        let mut users = v.users(raw.users, false)?;
        // Who else watches whom, read once: a document of hundreds against a file of thousands.
        let file_teams: std::collections::HashMap<&str, Option<&str>> = self
            .base
            .users
            .iter()
            .map(|f| (f.id.as_str(), f.team.as_deref()))
            .collect();
        let elsewhere = self.document_users(team);
        for (i, u) in users.iter_mut().enumerate() {
            let key = format!("users[{i}]");
            match u.team.as_deref() {
                Some(t) if t != team => {
                    return Err(v.err(
                        format!("{key}.team"),
                        spans[i].clone(),
                        format!(
                            "user \"{}\" is in team \"{t}\"; a team's document watches only \
                            its own team (leave team out)",
                            u.id
                        ),
                    ));
                }
                _ => u.team = Some(team.to_owned()),
            }
            // The file's own entries of this team are the document's to replace; anyone else
            // the file watches is the file's.
            if let Some(t) = file_teams.get(u.id.as_str())
                && *t != Some(team)
            {
                return Err(v.err(
                    format!("{key}.id"),
                    spans[i].clone(),
                    format!(
                        "user \"{}\" is watched by the config file; a user is owned once \
                        (the file or one team)",
                        u.id
                    ),
                ));
            }
            let files_own = file_teams.get(u.id.as_str()) == Some(&Some(team));
            if !entry.members.is_empty() && !entry.members.contains(&u.id) && !files_own {
                return Err(v.err(
                    format!("{key}.id"),
                    spans[i].clone(),
                    format!(
                        "user \"{}\" is not among the team's members; an admin adds them to \
                        members in its [[teams]] entry",
                        u.id
                    ),
                ));
            }
            // Which team holds them is that team's business: a lead learns only that it is not
            // theirs to watch.
            if elsewhere.contains(u.id.as_str()) {
                return Err(v.err(
                    format!("{key}.id"),
                    spans[i].clone(),
                    format!(
                        "user \"{}\" is watched by another team's document; a user is owned \
                        once (an admin can say which team)",
                        u.id
                    ),
                ));
            }
        }
        let team_users = users.clone();
        let nameable = Self::nameable(entry, &team_users);
        for (i, r) in raw.rules.iter().enumerate() {
            self.rule_names_only(&v, i, r, &nameable)?;
        }
        let mut warnings = Vec::new();
        let own = [team.to_owned()];
        let rules = v.rules(
            raw.rules,
            &team_users,
            &own,
            &self.calendars,
            self.expedite.operator.as_ref(),
            &mut warnings,
        )?;
        let mut digests = v.digests(
            raw.digests,
            &team_users,
            &own,
            &self.calendars,
            Some(&entry.webhooks),
            &mut warnings,
        )?;
        if self.bot.is_none()
            && let Some(i) = digests.iter().position(|d| d.bot.is_some())
        {
            return Err(v.err(
                format!("digests[{i}].via"),
                None,
                "via = \"bot\" needs the app's bot, which the config file does not enable \
                 ([bot] enabled = true, an admin's)",
            ));
        }
        let mut rules = super::validate::in_language(rules, self.expedite.language);
        for r in &mut rules {
            r.owner = Some(team.to_owned());
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
        // Shown as team/name: never the same as one of the file's own names.
        let taken = |name: &str| {
            self.base.rules.iter().any(|r| r.name == name)
                || self.base.digests.iter().any(|d| d.name == name)
        };
        if let Some(name) = rules
            .iter()
            .map(|r| r.name.as_str())
            .chain(digests.iter().map(|d| d.name.as_str()))
            .find(|n| taken(n))
        {
            return Err(v.err(
                "rules",
                None,
                format!("\"{name}\" is also a name in the config file; rename it"),
            ));
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
                format!(
                    "\"{id}\" is not one of the team's users, initiator, or an id its \
                    [[teams]] entry lists in may_name"
                ),
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
    /// to it (what `team import --from-config` moved), said as a warning. A version that does
    /// not validate against it is not in force: its users are listed but held by an exclusion
    /// rule, and its problem said ([`DocumentInUse::problem`]).
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
                "team \"{team}\"'s document (version {version}) replaces the file's {users} \
                    [[users]] with team = \"{team}\"{}; remove them from the file",
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
        owner: Some(team.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// u1 (finance) and u9 (no team) in the file; finance may name 8000; ops has no people.
    const FILE: &str = r#"
[feishu]
app_id = "cli_x"
app_secret = "s3cret"

[expedite]
operator_user_id = "7000"

[[users]]
id = "u1"
team = "finance"

[[users]]
id = "u9"

[[calendars]]
name = "work"
weekdays = ["mon", "tue", "wed", "thu", "fri"]
hours = ["09:00-18:00"]

[[rules]]
name = "never-vip"
label = "VIP*"
max_times = 0
after = "0s"
first = true

[[rules]]
name = "finance-file"
teams = ["finance"]
after = "48h"

[[rules]]
name = "everyone"
after = "72h"

[[teams]]
name = "finance"
members = ["u2", "u3", "u4"]
may_name = ["8000"]
webhooks = { daily = { url_file = "/etc/expediter/finance.url" } }

[[teams]]
name = "ops"
"#;

    fn config() -> Config {
        Config::parse(FILE, Path::new("/etc/expediter/config.toml"), false).unwrap()
    }

    fn version(team: &str, n: i64, document: &str) -> TeamVersion {
        TeamVersion {
            team: team.into(),
            version: n,
            document: document.into(),
            author: "lead".into(),
            comment: "c".into(),
            saved_at: chrono::DateTime::UNIX_EPOCH,
            restores: None,
        }
    }

    const DOC: &str = r#"
[[users]]
id = "u2"
name = "Li Si"

[[rules]]
name = "fast"
after = "4h"
calendar = "work"

[[digests]]
name = "morning"
cron = "0 0 9 * * *"
webhook = "daily"
"#;

    #[test]
    fn a_document_takes_its_teams_place_between_the_first_rules_and_the_rest() {
        let c = config();
        let doc = c.check_document("finance", DOC).unwrap();
        assert_eq!(doc.rules[0].name, "finance/fast");
        assert_eq!(
            doc.rules[0].teams,
            ["finance"],
            "a team's rule is for its people"
        );
        assert_eq!(doc.digests[0].name, "finance/morning");
        assert_eq!(doc.digests[0].teams, ["finance"]);
        assert!(
            doc.digests[0]
                .webhook
                .as_ref()
                .unwrap()
                .describe()
                .contains("finance.url")
        );
        let merged = c.with_documents(&[version("finance", 3, DOC)]);
        let names: Vec<&str> = merged.rules.iter().map(|r| r.name.as_str()).collect();
        // The file's rule for finance alone gives way to the document; its users too.
        assert_eq!(names, ["never-vip", "finance/fast", "everyone"]);
        let users: Vec<&str> = merged.users.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(users, ["u9", "u2"]);
        assert!(
            merged.warnings.iter().any(
                |w| w.contains("replaces the file's 1 [[users]]") && w.contains("finance-file")
            ),
            "{:?}",
            merged.warnings
        );
        assert_eq!(merged.documents[0].version, 3);
        assert!(merged.documents[0].problem.is_none());
        // Merging again (a later cycle) starts from the file, not from the merged config.
        let again = merged.with_documents(&[version("finance", 4, DOC)]);
        assert_eq!(again.rules.len(), 3);
        assert_eq!(again.warnings.len(), merged.warnings.len());
        // No document: the file as written.
        let none = c.with_documents(&[]);
        let names: Vec<&str> = none.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["never-vip", "finance-file", "everyone"]);
    }

    #[test]
    fn a_document_names_only_its_own_people_and_says_where() {
        let c = config();
        let err = |doc: &str| c.check_document("finance", doc).unwrap_err().to_string();
        let with_rule = |extra: &str| {
            format!("[[users]]\nid = \"u2\"\n\n[[rules]]\nname = \"r\"\nafter = \"1h\"\n{extra}")
        };
        for (extra, id, key) in [
            (
                "operator_user_id = \"9999\"",
                "9999",
                "rules[0].operator_user_id",
            ),
            (
                "max_times = 2\nrepeat = \"1h\"\nescalate = { after_times = 1, cc = [\"u9\"] }",
                "u9",
                "rules[0].escalate.cc",
            ),
            (
                "escalate = { after_times = 1, transfer_to = \"ou_x\" }",
                "ou_x",
                "rules[0].escalate.transfer_to",
            ),
            (
                "escalate = { after_times = 1, add_assignee = [\"u2\", \"u1\"] }",
                "u1",
                "rules[0].escalate.add_assignee",
            ),
        ] {
            let e = err(&with_rule(extra));
            assert!(
                e.contains(id) && e.contains(key) && e.contains("line"),
                "{e}"
            );
        }
        // Its own people, initiator and may_name are fine.
        for extra in [
            "operator_user_id = \"u2\"",
            "operator_user_id = \"initiator\"",
            "escalate = { after_times = 1, cc = [\"8000\", \"u2\"] }",
        ] {
            c.check_document("finance", &with_rule(extra)).unwrap();
        }
        // Watched by the file in another team (or none), or not a member: refused.
        let e = err("[[users]]\nid = \"u9\"");
        assert!(e.contains("watched by the config file"), "{e}");
        let e = err("[[users]]\nid = \"u7\"");
        assert!(e.contains("not among the team's members"), "{e}");
        let e = err("[[users]]\nid = \"u2\"\nteam = \"ops\"");
        assert!(e.contains("only its own team"), "{e}");
        // Selecting another team's people, or a rule meant for the file.
        let e = err(&with_rule("teams = [\"ops\"]"));
        assert!(e.contains("rules[0].teams"), "{e}");
        let e = err(&with_rule("first = true"));
        assert!(e.contains("rules[0].first"), "{e}");
        // Secrets are the admin's: a webhook by name only.
        let e =
            err("[[digests]]\nname = \"d\"\ncron = \"0 0 9 * * *\"\nwebhook_url = \"https://x\"");
        assert!(e.contains("names its webhook"), "{e}");
        let e = err("[[digests]]\nname = \"d\"\ncron = \"0 0 9 * * *\"\nwebhook = \"weekly\"");
        assert!(e.contains("known: daily"), "{e}");
        // A calendar the file does not define; a syntax error: line and column.
        let e = err(&with_rule("calendar = \"holiday\""));
        assert!(
            e.contains("calendar") && e.contains("line 7, column 12"),
            "{e}"
        );
        let e = err("[[rules]]\nname = \"r\"\nafter = \"1h");
        assert!(e.contains("team finance at line 3, column"), "{e}");
        let e = err("[[surprise]]");
        assert!(e.contains("surprise"), "{e}");
        // Another team's document owns a user once.
        let merged = c.with_documents(&[version("finance", 1, "[[users]]\nid = \"u2\"")]);
        let e = merged
            .check_document("ops", "[[users]]\nid = \"u2\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("another team's document") && !e.contains("finance"),
            "{e}"
        );
        // The file may not name a team's webhook.
        let text = format!(
            "{FILE}\n[[digests]]\nname = \"d\"\ncron = \"0 0 9 * * *\"\nwebhook = \"daily\"\n"
        );
        let e = Config::parse(&text, Path::new("/c.toml"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("digests[0].webhook"), "{e}");
    }

    #[test]
    fn a_stored_version_that_no_longer_validates_holds_its_people() {
        let c = config();
        // A version saved when the calendar existed; the file has since lost it.
        let doc = "[[users]]\nid = \"u3\"\n\n[[rules]]\nname = \"r\"\nafter = \"1h\"\ncalendar \
            = \"gone\"";
        let merged = c.with_documents(&[version("finance", 2, doc)]);
        let problems: Vec<_> = merged.document_problems().collect();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].2.contains("calendar"), "{problems:?}");
        assert_eq!(merged.rules[0].name, "finance/(version 2 not in force)");
        assert_eq!(merged.rules[0].max_times, 0);
        assert_eq!(merged.rules[0].users, ["u3"]);
        assert!(merged.users.iter().any(|u| u.id == "u3"), "listed");
        // The file's own finance people stay under the file's rules meanwhile.
        assert!(merged.users.iter().any(|u| u.id == "u1"));
        assert!(merged.rules.iter().any(|r| r.name == "finance-file"));
    }

    #[test]
    fn the_file_keeps_naming_a_team_whose_people_moved_and_names_never_collide() {
        // The file's finance people moved into the document: the file may still name the team.
        let moved = FILE.replace("[[users]]\nid = \"u1\"\nteam = \"finance\"\n", "");
        let c = Config::parse(&moved, Path::new("/c.toml"), false).unwrap();
        assert!(c.rules.iter().any(|r| r.name == "finance-file"));
        // `members` does not bar the file's own people of the team (what --from-config moves).
        let c = config();
        c.check_document("finance", "[[users]]\nid = \"u1\"")
            .unwrap();
        // A name the file has, or one with a control or direction character: refused.
        let e = c
            .check_document(
                "finance",
                "[[digests]]\nname = \"a/b\"\ncron = \"0 0 9 * * *\"\nwebhook = \"daily\"",
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("digests[0].name"), "{e}");
        let e = c
            .check_document("finance", "[[rules]]\nname = \"a\\u202eb\"\nafter = \"1h\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("direction"), "{e}");
        let clash = FILE.replace("name = \"everyone\"", "name = \"finance/x\"");
        let c = Config::parse(&clash, Path::new("/c.toml"), false).unwrap();
        let e = c
            .check_document("finance", "[[rules]]\nname = \"x\"\nafter = \"1h\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"finance/x\" is also a name in the config file"),
            "{e}"
        );
    }
}
