//! `[bot]`: the app's own bot — cards people act on, over Feishu's long connection — and where
//! a digest sent through it goes.

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Validator};

/// `[bot]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBot {
    pub(super) enabled: Option<bool>,
    pub(super) mode: Option<Spanned<String>>,
    /// `mode = "http"`: the app's Encrypt Key and Verification Token (secrets).
    pub(super) encrypt_key: Option<String>,
    pub(super) encrypt_key_file: Option<std::path::PathBuf>,
    pub(super) verification_token: Option<String>,
    pub(super) verification_token_file: Option<std::path::PathBuf>,
}

/// How card clicks reach the daemon.
#[derive(Debug, Clone)]
pub enum BotMode {
    /// The daemon dials out to Feishu; no public URL is needed.
    LongConnection,
    /// Feishu posts each callback to `{public_url}/feishu/callback`: encrypted with the Encrypt
    /// Key, signed, carrying the Verification Token.
    Http {
        encrypt_key: super::SecretSource,
        verification_token: super::SecretSource,
    },
}

/// `[bot]` when enabled.
#[derive(Debug, Clone)]
pub struct BotConfig {
    pub mode: BotMode,
}

/// Where a digest sent by the app's bot goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotTo {
    /// A group chat the bot is in (`chat_id = "oc_…"`).
    Chat(String),
    /// A personal card to each lead of the digest's teams, holding only their teams' part.
    Leads,
}

impl Validator<'_> {
    pub(super) fn bot(
        &self,
        raw: Option<RawBot>,
        console: Option<&super::ConsoleConfig>,
    ) -> Result<Option<BotConfig>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        if raw.enabled != Some(true) {
            return Ok(None);
        }
        let mode = match raw.mode.as_ref().map(|m| (m.get_ref().trim(), m.span())) {
            None | Some(("long_connection", _)) => BotMode::LongConnection,
            Some(("http", span)) => {
                if console.is_none_or(|c| c.public_url.is_none()) {
                    return Err(self.err(
                        "bot.mode",
                        Some(span),
                        "mode = \"http\" needs the console with public_url: Feishu posts card \
                         clicks to {public_url}/feishu/callback",
                    ));
                }
                let env = |v: &str| std::env::var(v).is_ok_and(|v| !v.trim().is_empty());
                let (key_var, token_var) = (
                    "EXPEDITER_BOT_ENCRYPT_KEY",
                    "EXPEDITER_BOT_VERIFICATION_TOKEN",
                );
                let encrypt_key = self
                    .secret(
                        "bot",
                        "encrypt_key",
                        key_var,
                        env(key_var),
                        raw.encrypt_key,
                        raw.encrypt_key_file,
                        Some("bot_encrypt_key"),
                    )?
                    .expect("a credential is the fallback");
                let verification_token = self
                    .secret(
                        "bot",
                        "verification_token",
                        token_var,
                        env(token_var),
                        raw.verification_token,
                        raw.verification_token_file,
                        Some("bot_verification_token"),
                    )?
                    .expect("a credential is the fallback");
                BotMode::Http {
                    encrypt_key,
                    verification_token,
                }
            }
            Some((other, span)) => {
                return Err(self.err(
                    "bot.mode",
                    Some(span),
                    format!("mode \"{other}\" is not one of \"long_connection\", \"http\""),
                ));
            }
        };
        Ok(Some(BotConfig { mode }))
    }

    /// A click acts for an admin or a lead of the assignee's team, known by signing in with
    /// Feishu: `[bot]` needs the console's Feishu sign-in and those roles.
    pub(super) fn bot_people(
        &self,
        console: Option<&super::ConsoleConfig>,
        teams: &[super::Team],
    ) -> Result<(), ConfigError> {
        let feishu = console.is_some_and(|c| matches!(c.sign_in, super::SignIn::Feishu { .. }));
        if !feishu {
            return Err(self.err(
                "bot.enabled",
                None,
                "the app's bot acts for the people who click, known by signing in: it needs \
                 [console] with sign_in = \"feishu\"",
            ));
        }
        let roles = console.is_some_and(|c| !c.admins.is_empty())
            || teams.iter().any(|t| !t.leads.is_empty());
        if !roles {
            return Err(self.err(
                "bot.enabled",
                None,
                "the app's bot's buttons act for admins and team leads: name them ([console] \
                 admins, [[teams]] leads); without them anyone in the chat could snooze",
            ));
        }
        Ok(())
    }

    /// A digest's `via = "bot"` target: `chat_id` or `to = "leads"`, one of them; `None` for a
    /// digest through a custom bot (no `via`, or `via = "webhook"`).
    pub(super) fn bot_target(
        &self,
        i: usize,
        name: &str,
        via: Option<&Spanned<String>>,
        chat_id: Option<&Spanned<String>>,
        to: Option<&Spanned<String>>,
        in_document: bool,
    ) -> Result<Option<BotTo>, ConfigError> {
        let key = |k: &str| format!("digests[{i}].{k}");
        let bot = match via.map(|v| (v.get_ref().trim(), v.span())) {
            None | Some(("webhook", _)) => false,
            Some(("bot", _)) => true,
            Some((other, span)) => {
                return Err(self.err(
                    key("via"),
                    Some(span),
                    format!("via \"{other}\" is not one of \"webhook\", \"bot\""),
                ));
            }
        };
        if !bot {
            if let Some(k) = chat_id
                .map(|c| ("chat_id", c.span()))
                .or(to.map(|t| ("to", t.span())))
            {
                return Err(self.err(
                    key(k.0),
                    Some(k.1),
                    format!("digest \"{name}\": {} is for via = \"bot\"", k.0),
                ));
            }
            return Ok(None);
        }
        match (chat_id, to) {
            (Some(c), None) => {
                let id = c.get_ref().trim();
                if in_document {
                    return Err(self.err(
                        key("chat_id"),
                        Some(c.span()),
                        format!(
                            "digest \"{name}\": a team's document sends through the bot only \
                            with to = \"leads\""
                        ),
                    ));
                }
                if !id.starts_with("oc_") || crate::domain::id::parse_id(id).is_err() {
                    return Err(self.err(
                        key("chat_id"),
                        Some(c.span()),
                        format!("digest \"{name}\": chat_id {id:?} is not a chat's id (oc_…)"),
                    ));
                }
                Ok(Some(BotTo::Chat(id.to_owned())))
            }
            (None, Some(t)) if t.get_ref().trim() == "leads" => Ok(Some(BotTo::Leads)),
            (None, Some(t)) => Err(self.err(
                key("to"),
                Some(t.span()),
                format!("digest \"{name}\": to = {:?} is not \"leads\"", t.get_ref()),
            )),
            (Some(c), Some(_)) => Err(self.err(
                key("chat_id"),
                Some(c.span()),
                format!("digest \"{name}\": give chat_id or to = \"leads\", not both"),
            )),
            (None, None) => Err(self.err(
                key("via"),
                via.map(Spanned::span),
                format!(
                    "digest \"{name}\": via = \"bot\" needs chat_id = \"oc_…\" (a group the \
                    bot is in) or to = \"leads\""
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;
    use super::*;

    use super::super::tests::MINIMAL as BASE;

    const CONSOLE: &str = r#"
[console]
listen = "127.0.0.1:9000"
public_url = "https://console.example"
sign_in = "feishu"
admins = ["ou_admin"]
"#;

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::parse(
            &format!("{BASE}{CONSOLE}{extra}"),
            Path::new("c.toml"),
            false,
        )
    }

    const DIGEST: &str = "\n[[digests]]\nname = \"d\"\ncron = \"0 0 9 * * *\"\n";

    #[test]
    fn a_digest_through_the_bot_names_a_chat_or_the_leads_and_needs_the_bot_on() {
        let ok = parse(&format!(
            "\n[bot]\nenabled = true\n{DIGEST}via = \"bot\"\nchat_id = \"oc_room\"\n"
        ))
        .unwrap();
        assert!(matches!(
            ok.bot.as_ref().map(|b| &b.mode),
            Some(BotMode::LongConnection)
        ));
        assert_eq!(ok.digests[0].bot, Some(BotTo::Chat("oc_room".into())));
        assert!(ok.digests[0].webhook.is_none());
        let leads = parse(&format!(
            "\n[bot]\nenabled = true\n{DIGEST}via = \"bot\"\nto = \"leads\"\n"
        ))
        .unwrap();
        assert_eq!(leads.digests[0].bot, Some(BotTo::Leads));
        let refused = |extra: &str, key: &str, words: &str| {
            let e = parse(extra).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.to_string().contains(words), "{e}");
        };
        refused(
            &format!("{DIGEST}via = \"bot\"\nchat_id = \"oc_room\"\n"),
            "digests[0].via",
            "[bot] is not enabled",
        );
        let on = "\n[bot]\nenabled = true\n";
        refused(
            &format!("{on}{DIGEST}via = \"bot\"\n"),
            "digests[0].via",
            "needs chat_id",
        );
        refused(
            &format!("{on}{DIGEST}via = \"bot\"\nchat_id = \"room\"\n"),
            "digests[0].chat_id",
            "not a chat's id",
        );
        refused(
            &format!("{on}{DIGEST}via = \"bot\"\nchat_id = \"oc_a,oc_b\"\n"),
            "digests[0].chat_id",
            "not a chat's id",
        );
        refused(
            &format!("{on}{DIGEST}via = \"bot\"\nto = \"everyone\"\n"),
            "digests[0].to",
            "not \"leads\"",
        );
        refused(
            &format!("{on}{DIGEST}via = \"bot\"\nto = \"leads\"\nchat_id = \"oc_r\"\n"),
            "digests[0].chat_id",
            "not both",
        );
        refused(
            &format!("{on}{DIGEST}via = \"bot\"\nto = \"leads\"\nwebhook_url = \"https://x\"\n"),
            "digests[0].webhook_url",
            "has no webhook_url",
        );
        refused(
            &format!("{on}{DIGEST}via = \"pigeon\"\n"),
            "digests[0].via",
            "not one of",
        );
        refused(
            &format!("{on}{DIGEST}webhook_url = \"https://x\"\nto = \"leads\"\n"),
            "digests[0].to",
            "for via = \"bot\"",
        );
        // HTTP mode: its two secrets (systemd credentials unless given).
        let http = parse("\n[bot]\nenabled = true\nmode = \"http\"\n").unwrap();
        assert!(matches!(
            http.bot.map(|b| b.mode),
            Some(BotMode::Http { .. })
        ));
        // Clicks act for people known by signing in with Feishu, in roles.
        for (console, words) in [
            ("", "sign_in = \"feishu\""),
            (
                "\n[console]\nlisten = \"127.0.0.1:9000\"\npublic_url = \"https://c.example\"\nsign_in = \"feishu\"\nallow = [\"*\"]\n",
                "name them",
            ),
        ] {
            let text = format!("{BASE}{console}\n[bot]\nenabled = true\n");
            let e = Config::parse(&text, Path::new("c.toml"), false).unwrap_err();
            assert_eq!(e.key.as_deref(), Some("bot.enabled"), "{e}");
            assert!(e.to_string().contains(words), "{e}");
        }
        // Off: as if it were not there.
        assert!(parse("\n[bot]\nenabled = false\n").unwrap().bot.is_none());
    }
}
