//! Where expediter reports to, checked once: `[[digests]]` (custom bots and their secrets) and
//! `[metrics]`; and how any secret's source is read from the config.

use std::path::PathBuf;

use toml::Spanned;

use super::raw::*;
use super::secret::{SecretSource, digest_env_var};
use super::validate::{Validator, config_dir, resolve_credential_path};
use super::*;
use crate::domain::calendar::Calendar;
use crate::secret::Secret;

impl Validator<'_> {
    /// `[[digests]]`: summary cards to group chats.
    pub(super) fn digests(
        &self,
        raw: Vec<Spanned<RawDigest>>,
        users: &[User],
        teams: &[String],
        calendars: &[Calendar],
        team_hooks: Option<&[super::teams::TeamWebhook]>,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Digest>, ConfigError> {
        let mut out: Vec<Digest> = Vec::new();
        for (i, d) in raw.into_iter().enumerate() {
            let span = d.span();
            let d = d.into_inner();
            let key = |k: &str| format!("digests[{i}].{k}");
            let name = d.name.trim().to_owned();
            if name.is_empty() {
                return Err(self.err(key("name"), Some(span), "digest name is empty"));
            }
            if !super::rules::plain_name(&name) || (team_hooks.is_some() && name.contains('/')) {
                return Err(self.err(
                    key("name"),
                    Some(span),
                    format!(
                        "digest name {name:?} holds a control or direction character (or, in a \
                         team's document, a \"/\": it is shown as team/name)"
                    ),
                ));
            }
            if out.iter().any(|x| x.name == name) {
                return Err(self.err(
                    key("name"),
                    Some(span),
                    format!("digest \"{name}\" is defined twice"),
                ));
            }
            for (k, list) in [("users", &d.users), ("teams", &d.teams)] {
                if list.as_ref().is_some_and(Vec::is_empty) {
                    warnings.push(format!(
                        "digests[{i}].{k} = [] is the same as leaving it out: digest \"{name}\" shows every watched user; list the {k} it is for, or remove the key"
                    ));
                }
            }
            let (d_users, d_teams) = (d.users.unwrap_or_default(), d.teams.unwrap_or_default());
            for u in &d_users {
                if !users.iter().any(|x| x.id == *u.get_ref()) {
                    return Err(self.err(
                        key("users"),
                        Some(u.span()),
                        format!(
                            "digest \"{name}\" names user \"{}\", who is not in [[users]]",
                            u.get_ref()
                        ),
                    ));
                }
            }
            for t in &d_teams {
                if !teams.contains(t.get_ref())
                    && !users
                        .iter()
                        .any(|x| x.team.as_deref() == Some(t.get_ref().as_str()))
                {
                    return Err(self.err(key("teams"), Some(t.span()), format!("digest \"{name}\" names team \"{}\", which no user in [[users]] belongs to; {}", t.get_ref(), super::rules::teams_known(users))));
                }
            }
            let calendar = match &d.calendar {
                None => None,
                Some(c) => Some(calendars.iter().position(|x| x.name == *c.get_ref()).ok_or_else(|| {
                    self.err(key("calendar"), Some(c.span()), format!("digest \"{name}\" uses calendar \"{}\", which is not defined in [[calendars]]", c.get_ref()))
                })?),
            };
            let bot = self.bot_target(
                i,
                &name,
                d.via.as_ref(),
                d.chat_id.as_ref(),
                d.to.as_ref(),
                team_hooks.is_some(),
            )?;
            let (webhook, sign) = match team_hooks {
                _ if bot.is_some() => {
                    let typed = [
                        ("webhook_url", d.webhook_url.is_some()),
                        ("webhook_url_file", d.webhook_url_file.is_some()),
                        ("sign_secret", d.sign_secret.is_some()),
                        ("sign_secret_file", d.sign_secret_file.is_some()),
                        ("webhook", d.webhook.is_some()),
                    ];
                    if let Some((k, _)) = typed.iter().find(|(_, set)| *set) {
                        return Err(self.err(
                            key(k),
                            Some(span),
                            format!("digest \"{name}\" goes through the app's bot (via = \"bot\"): it has no {k}"),
                        ));
                    }
                    (None, None)
                }
                Some(hooks) => {
                    let typed = d.webhook_url.is_some()
                        || d.webhook_url_file.is_some()
                        || d.sign_secret.is_some()
                        || d.sign_secret_file.is_some();
                    let (url, sign) = self.team_webhook(
                        i,
                        &name,
                        hooks,
                        typed,
                        d.webhook.as_ref(),
                        span.clone(),
                    )?;
                    (Some(url), sign)
                }
                None => {
                    if let Some(w) = &d.webhook {
                        return Err(self.err(
                            key("webhook"),
                            Some(w.span()),
                            "webhook = \"NAME\" is for a team's document (a webhook its \
                            [[teams]] entry lists); in the file give webhook_url_file",
                        ));
                    }
                    let table = format!("digests[{i}]");
                    let url_var = digest_env_var(&name, "WEBHOOK_URL");
                    let sign_var = digest_env_var(&name, "SIGN_SECRET");
                    let set = |v: &str| std::env::var(v).is_ok_and(|v| !v.trim().is_empty());
                    let webhook = self
                        .secret(
                            &table,
                            "webhook_url",
                            &url_var,
                            set(&url_var),
                            d.webhook_url,
                            d.webhook_url_file,
                            Some(&format!("{name}_webhook")),
                        )?
                        .expect("a credential is the fallback");
                    let sign = self.secret(
                        &table,
                        "sign_secret",
                        &sign_var,
                        set(&sign_var),
                        d.sign_secret,
                        d.sign_secret_file,
                        None,
                    )?;
                    (Some(webhook), sign)
                }
            };
            let catch_up = d.catch_up.map_or(super::DEFAULT_CATCH_UP, |c| c.0);
            if catch_up > std::time::Duration::from_secs(86_400) {
                return Err(self.err(
                    key("catch_up"),
                    Some(span),
                    "catch_up is at most \"1d\": a digest missed by longer is old news; write e.g. \"15m\" (or \"0s\" for no catch-up)",
                ));
            }
            out.push(Digest {
                name,
                cron: d.cron,
                webhook,
                sign,
                bot,
                users: d_users.into_iter().map(|s| s.into_inner()).collect(),
                teams: d_teams.into_iter().map(|s| s.into_inner()).collect(),
                min_age: d.min_age.map(|m| m.0).unwrap_or_default(),
                calendar,
                catch_up,
            });
        }
        Ok(out)
    }

    /// A team document's digest: `webhook` names one of the team's webhooks; its secrets are
    /// the admin's, never typed in the document.
    fn team_webhook(
        &self,
        i: usize,
        name: &str,
        hooks: &[super::teams::TeamWebhook],
        typed: bool,
        webhook: Option<&Spanned<String>>,
        span: std::ops::Range<usize>,
    ) -> Result<(SecretSource, Option<SecretSource>), ConfigError> {
        let key = |k: &str| format!("digests[{i}].{k}");
        if typed {
            return Err(self.err(
                key("webhook_url"),
                Some(span),
                "a team's document names its webhook (webhook = \"NAME\", one its [[teams]] \
                    entry lists); its URL and secret are the admin's",
            ));
        }
        let known = || {
            let names: Vec<&str> = hooks.iter().map(|h| h.name.as_str()).collect();
            if names.is_empty() {
                "the team has none; an admin adds them to its [[teams]] entry".to_owned()
            } else {
                format!("known: {}", names.join(", "))
            }
        };
        let Some(w) = webhook else {
            return Err(self.err(
                key("webhook"),
                Some(span),
                format!("digest \"{name}\" needs webhook = \"NAME\" ({})", known()),
            ));
        };
        let hook = hooks
            .iter()
            .find(|h| h.name == *w.get_ref())
            .ok_or_else(|| {
                self.err(
                    key("webhook"),
                    Some(w.span()),
                    format!(
                        "digest \"{name}\" names webhook \"{}\", which the team may not use ({})",
                        w.get_ref(),
                        known()
                    ),
                )
            })?;
        Ok((hook.url.clone(), hook.sign.clone()))
    }

    /// `[metrics] listen`: an address and port, e.g. 127.0.0.1:9464.
    pub(super) fn metrics(
        &self,
        m: &RawMetrics,
        warnings: &mut Vec<String>,
    ) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        let Some(listen) = &m.listen else {
            return Ok(None);
        };
        let addr: std::net::SocketAddr = listen.get_ref().trim().parse().map_err(|_| {
            self.err(
                "metrics.listen",
                Some(listen.span()),
                format!(
                    "\"{}\" is not an address and port; write it like \"127.0.0.1:9464\"",
                    listen.get_ref()
                ),
            )
        })?;
        if !addr.ip().is_loopback() {
            warnings.push(format!(
                "metrics.listen = \"{addr}\" serves /metrics beyond this machine; anyone who can reach it can read task counts and rule names"
            ));
        }
        Ok(Some(addr))
    }
}

impl Validator<'_> {
    /// Where a secret comes from: the environment variable `var` (when `env_set`) wins, then
    /// the inline key or its `_file` (one of them), then systemd's credential `credential`
    /// (read at use, so `plan` works without access to it); `None` when none applies.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn secret(
        &self,
        table: &str,
        key: &str,
        var: &str,
        env_set: bool,
        inline: Option<String>,
        file: Option<PathBuf>,
        credential: Option<&str>,
    ) -> Result<Option<SecretSource>, ConfigError> {
        let full = format!("{table}.{key}");
        Ok(Some(match (env_set, inline, file) {
            (true, _, _) => SecretSource::Env {
                var: var.to_owned(),
            },
            (false, Some(_), Some(_)) => {
                return Err(self.err(
                    full,
                    None,
                    format!("both {key} and {key}_file are set; keep one ({key}_file is safer)"),
                ));
            }
            (false, Some(s), None) => {
                if s.trim().is_empty() {
                    return Err(self.err(full, None, format!("{key} is empty")));
                }
                SecretSource::Inline {
                    key: key.to_owned(),
                    value: Secret::new(s.trim().to_owned()),
                }
            }
            // A relative path names a systemd credential (read beside the config outside
            // systemd): its errors name the LoadCredential= line that provides it.
            (false, None, Some(p)) if p.is_relative() => SecretSource::Credential {
                key: key.to_owned(),
                name: p.to_string_lossy().into_owned(),
                var: var.to_owned(),
                beside: config_dir(self.file).join(&p),
            },
            (false, None, Some(p)) => SecretSource::File {
                key: key.to_owned(),
                path: resolve_credential_path(p, self.file),
            },
            (false, None, None) => match credential {
                Some(name) => SecretSource::Credential {
                    key: key.to_owned(),
                    name: name.to_owned(),
                    var: var.to_owned(),
                    beside: config_dir(self.file).join(name),
                },
                None => return Ok(None),
            },
        }))
    }
}
