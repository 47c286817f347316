//! `[console]`: the web console's address, how people sign in, and the console's token.

use std::time::Duration;

use toml::Spanned;

use super::raw::RawConsole;
use super::{ConfigError, ConsoleConfig, SignIn};
use crate::config::validate::Validator;

/// Overrides `[console] token` / `token_file`.
pub const CONSOLE_TOKEN_ENV: &str = "EXPEDITER_CONSOLE_TOKEN";
const DEFAULT_ACCOUNTS_URL: &str = "https://accounts.feishu.cn";
const DEFAULT_SESSION: Duration = Duration::from_secs(12 * 3600);

impl Validator<'_> {
    pub(super) fn console(
        &self,
        raw: Spanned<RawConsole>,
        warnings: &mut Vec<String>,
    ) -> Result<ConsoleConfig, ConfigError> {
        let span = raw.span();
        let c = raw.into_inner();
        let listen: std::net::SocketAddr = c.listen.get_ref().trim().parse().map_err(|_| {
            self.err(
                "console.listen",
                Some(c.listen.span()),
                format!(
                    "\"{}\" is not an address and port; write it like \"127.0.0.1:9465\"",
                    c.listen.get_ref()
                ),
            )
        })?;
        let public_url = match &c.public_url {
            None => None,
            Some(u) => {
                let text = u.get_ref().trim().trim_end_matches('/');
                let ok = (text.starts_with("https://") || text.starts_with("http://"))
                    && text
                        .split("://")
                        .nth(1)
                        .is_some_and(|rest| !rest.is_empty())
                    && !text.contains(['?', '#', ' ']);
                if !ok {
                    return Err(self.err(
                        "console.public_url",
                        Some(u.span()),
                        format!(
                            "\"{}\" is not a web address; write it like \"https://expediter.corp.example\" (how people reach the console)",
                            u.get_ref()
                        ),
                    ));
                }
                Some(text.to_owned())
            }
        };
        let env_token = std::env::var(CONSOLE_TOKEN_ENV)
            .ok()
            .is_some_and(|v| !v.trim().is_empty());
        let method = c
            .sign_in
            .as_ref()
            .map(|s| s.get_ref().trim().to_owned())
            .unwrap_or_else(|| "token".to_owned());
        let sign_in = match method.as_str() {
            "token" => SignIn::Token,
            "feishu" => {
                let allow: Vec<String> = c
                    .allow
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| a.into_inner().trim().to_owned())
                    .filter(|a| !a.is_empty())
                    .collect();
                if public_url.is_none() {
                    return Err(self.err(
                        "console.public_url",
                        Some(span.clone()),
                        "sign_in = \"feishu\" needs public_url: Feishu sends people back to {public_url}/login/feishu/callback (list it in the app's Redirect URLs)",
                    ));
                }
                let accounts_url = c
                    .accounts_url
                    .map(|u| u.into_inner().trim().trim_end_matches('/').to_owned())
                    .unwrap_or_else(|| DEFAULT_ACCOUNTS_URL.to_owned());
                SignIn::Feishu {
                    allow,
                    accounts_url,
                }
            }
            other => {
                return Err(self.err(
                    "console.sign_in",
                    c.sign_in.as_ref().map(|s| s.span()),
                    format!("\"{other}\" is not a way to sign in; use \"feishu\" or \"token\""),
                ));
            }
        };
        let credential = (sign_in == SignIn::Token).then_some("console_token");
        let token = self.secret(
            "console",
            "token",
            CONSOLE_TOKEN_ENV,
            env_token,
            c.token,
            c.token_file,
            credential,
        )?;
        let session = c.session.map(|s| s.0).unwrap_or(DEFAULT_SESSION);
        if session < Duration::from_secs(60) {
            return Err(self.err(
                "console.session",
                None,
                "a session shorter than a minute would end before a page is read; write e.g. \"12h\"",
            ));
        }
        if !listen.ip().is_loopback()
            && !public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
        {
            warnings.push(format!(
                "console.listen = \"{listen}\" serves the console beyond this machine without https in public_url: sign-in cookies and tokens cross the network in clear; put it behind an https proxy and set public_url to its https address"
            ));
        }
        let mut trusted_proxies = Vec::new();
        for p in c.trusted_proxies.unwrap_or_default() {
            let net = super::Network::parse(p.get_ref()).ok_or_else(|| {
                self.err(
                    "console.trusted_proxies",
                    Some(p.span()),
                    format!(
                        "{:?} is not an address or a network; write it like \"127.0.0.1\" or \"10.0.0.0/8\" (the reverse proxies in front of the console)",
                        p.get_ref()
                    ),
                )
            })?;
            trusted_proxies.push(net);
        }
        Ok(ConsoleConfig {
            listen,
            public_url,
            sign_in,
            token,
            session,
            trusted_proxies,
            admins: Vec::new(),
        })
    }
}

impl Validator<'_> {
    /// `[away]`: what happens to an away user's tasks — held only (`"none"`), or moved to the
    /// deputy once each falls due.
    pub(super) fn away(&self, raw: &super::raw::RawAway) -> Result<super::AwayConfig, ConfigError> {
        let mut away = super::AwayConfig::default();
        if let Some(action) = &raw.deputy_action {
            away.deputy_action = match action.get_ref().trim() {
                "none" => super::DeputyAction::None,
                "transfer" => super::DeputyAction::Transfer,
                "add_assignee" => super::DeputyAction::AddAssignee,
                other => {
                    return Err(self.err(
                        "away.deputy_action",
                        Some(action.span()),
                        format!(
                            "\"{other}\" is not one of \"none\", \"transfer\", \"add_assignee\""
                        ),
                    ));
                }
            };
        }
        if away.deputy_action == super::DeputyAction::AddAssignee {
            away.opinion = crate::domain::opinion::OpinionTemplate::parse_with(
                super::DEFAULT_AWAY_ADD_OPINION,
                &["deputy", "until"],
            )
            .expect("the default away opinion is valid");
        }
        if let Some(opinion) = &raw.opinion {
            away.opinion = crate::domain::opinion::OpinionTemplate::parse_with(
                opinion.get_ref(),
                &["deputy", "until"],
            )
            .map_err(|e| self.err("away.opinion", Some(opinion.span()), e))?;
        }
        away.deputy_after = raw.deputy_after.map(|d| d.0);
        Ok(away)
    }
}
