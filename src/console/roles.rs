//! Who may see and do what on the console: roles over the teams `[[users]] team` names, checked
//! on every request against the config in force.

use std::collections::{BTreeSet, HashSet};

use crate::config::{Config, SignIn, names_person};

/// What a signed-in person is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Everything: `[console] admins`, the console's token (form, Bearer, link), or anyone
    /// admitted while no role is configured.
    Admin,
    /// A lead of `leads` (reads and acts) and a viewer of `views` (reads): team names.
    Member {
        leads: BTreeSet<String>,
        views: BTreeSet<String>,
    },
    /// Admitted by `allow`, with no role: sees a page that says so.
    Nobody,
}

/// Is any role configured? Without one, everyone admitted is an admin (as before roles).
pub(crate) fn roles_set(config: &Config) -> bool {
    config
        .console
        .as_ref()
        .is_some_and(|c| !c.admins.is_empty())
        || config
            .teams
            .iter()
            .any(|t| !t.leads.is_empty() || !t.viewers.is_empty())
}

/// May this person sign in: in `allow` (or `allow = ["*"]`), an admin, a lead or a viewer?
pub(crate) fn admitted(config: &Config, open_id: Option<&str>, email: Option<&str>) -> bool {
    let Some(console) = config.console.as_ref() else {
        return false;
    };
    let SignIn::Feishu { allow, .. } = &console.sign_in else {
        return false;
    };
    let named = |e: &String| names_person(e, open_id, email);
    allow.iter().any(|a| a == "*" || named(a))
        || console.admins.iter().any(named)
        || config
            .teams
            .iter()
            .any(|t| t.leads.iter().any(named) || t.viewers.iter().any(named))
}

impl Role {
    /// The role of a person signed in with Feishu, under `config`.
    pub(crate) fn of(config: &Config, open_id: Option<&str>, email: Option<&str>) -> Role {
        if !roles_set(config) {
            return Role::Admin;
        }
        let named = |e: &String| names_person(e, open_id, email);
        if config
            .console
            .as_ref()
            .is_some_and(|c| c.admins.iter().any(named))
        {
            return Role::Admin;
        }
        let leads: BTreeSet<String> = config
            .teams
            .iter()
            .filter(|t| t.leads.iter().any(named))
            .map(|t| t.name.clone())
            .collect();
        let views: BTreeSet<String> = config
            .teams
            .iter()
            .filter(|t| t.viewers.iter().any(named) && !leads.contains(&t.name))
            .map(|t| t.name.clone())
            .collect();
        if leads.is_empty() && views.is_empty() {
            Role::Nobody
        } else {
            Role::Member { leads, views }
        }
    }

    /// What it may see and do under `config`.
    pub(crate) fn scope(&self, config: &Config) -> Scope {
        match self {
            Role::Admin => Scope::All,
            Role::Nobody => Scope::Teams {
                teams: BTreeSet::new(),
                leading: BTreeSet::new(),
                sees: HashSet::new(),
                acts: HashSet::new(),
                may_name: HashSet::new(),
            },
            Role::Member { leads, views } => {
                let of = |teams: &BTreeSet<String>| -> HashSet<String> {
                    config
                        .users
                        .iter()
                        .filter(|u| u.team.as_ref().is_some_and(|t| teams.contains(t)))
                        .map(|u| u.id.clone())
                        .collect()
                };
                let all: BTreeSet<String> = leads.union(views).cloned().collect();
                let may_name = config
                    .teams
                    .iter()
                    .filter(|t| leads.contains(&t.name))
                    .flat_map(|t| t.may_name.iter().cloned())
                    .collect();
                Scope::Teams {
                    sees: of(&all),
                    acts: of(leads),
                    teams: all,
                    leading: leads.clone(),
                    may_name,
                }
            }
        }
    }

    /// May they read the audit trail (an admin: all of it; a lead: their teams')?
    pub(crate) fn reads_audit(&self) -> bool {
        match self {
            Role::Admin => true,
            Role::Member { leads, .. } => !leads.is_empty(),
            Role::Nobody => false,
        }
    }

    /// May it open the teams' pages (an admin, a lead or a viewer)?
    pub(crate) fn has_teams(&self) -> bool {
        !matches!(self, Role::Nobody)
    }

    /// How the page's corner says it.
    pub(crate) fn words(&self) -> String {
        self.words_in(crate::i18n::Lang::En)
    }

    /// The role in `lang`: "lead of finance", 「finance 的负责人」 (the record keeps English).
    pub(crate) fn words_in(&self, lang: crate::i18n::Lang) -> String {
        match self {
            Role::Admin => lang.t("role-admin"),
            Role::Nobody => lang.t("role-nobody"),
            Role::Member { leads, views } => {
                let list = |teams: &std::collections::BTreeSet<String>| {
                    teams.iter().cloned().collect::<Vec<_>>().join(", ")
                };
                let mut parts = Vec::new();
                if !leads.is_empty() {
                    parts.push(lang.with("role-lead", &[("teams", list(leads).into())]));
                }
                if !views.is_empty() {
                    parts.push(lang.with("role-viewer", &[("teams", list(views).into())]));
                }
                parts.join("; ")
            }
        }
    }
}

/// What one request may see and act on.
#[derive(Clone, Debug)]
pub(crate) enum Scope {
    /// Everything.
    All,
    /// Only some teams' watched users.
    Teams {
        /// The team names it reads.
        teams: BTreeSet<String>,
        /// The team names it leads.
        leading: BTreeSet<String>,
        /// The watched users of the teams it reads.
        sees: HashSet<String>,
        /// The watched users of the teams it leads.
        acts: HashSet<String>,
        /// Ids its lead teams may name as a deputy besides their own users.
        may_name: HashSet<String>,
    },
}

impl Scope {
    pub(crate) fn is_all(&self) -> bool {
        matches!(self, Scope::All)
    }

    /// Does it read this assignee's tasks?
    pub(crate) fn sees(&self, user: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Teams { sees, .. } => sees.contains(user),
        }
    }

    /// Does it act for this person (silence them, mark them away)?
    pub(crate) fn acts_for(&self, user: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Teams { acts, .. } => acts.contains(user),
        }
    }

    /// May it name this id as a deputy?
    pub(crate) fn may_name(&self, id: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Teams { acts, may_name, .. } => acts.contains(id) || may_name.contains(id),
        }
    }

    /// Does it lead this team (act for its people, read its audit trail)?
    pub(crate) fn leads_team(&self, team: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Teams { leading, .. } => leading.contains(team),
        }
    }

    /// The rules that can hold a task of someone it sees (every rule: for an admin).
    pub(crate) fn rules<'c>(&self, config: &'c Config) -> Vec<&'c crate::domain::rule::Rule> {
        config
            .rules
            .iter()
            .filter(|r| {
                self.is_all()
                    || config
                        .users
                        .iter()
                        .any(|u| self.sees(&u.id) && r.selects_user(u))
            })
            .collect()
    }

    /// Does it read this team?
    pub(crate) fn sees_team(&self, team: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Teams { teams, .. } => teams.contains(team),
        }
    }
}
