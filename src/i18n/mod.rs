//! The languages expediter speaks to people: Simplified Chinese (`zh-CN`, the default) and
//! English. The words live in Project Fluent catalogs (`locales/{zh-CN,en}/expediter.ftl`,
//! compiled in by `fluent-templates`), which carry each language's plural rules; a test holds the
//! two catalogs to the same keys. Logs, JSON, URLs and state codes stay English: they are for
//! machines and log search.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

pub use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader as _};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around placeables: the text goes into Feishu and terminals.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// A language expediter speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Lang {
    /// 简体中文.
    #[default]
    #[serde(rename = "zh-CN")]
    Zh,
    #[serde(rename = "en")]
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    /// The BCP 47 tag: `zh-CN`, `en`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// A language tag or a locale as people and systems write them (`zh-CN`, `zh_CN.UTF-8`,
    /// `zh-Hans`, `en-US`, `en`); `None` for any other language.
    pub fn parse(text: &str) -> Option<Lang> {
        let primary = text
            .trim()
            .split(['-', '_', '.', '@'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first language of an `Accept-Language` header we speak, by its weights; `None`
    /// when it names none of them.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut offered: Vec<(f32, usize, Lang)> = header
            .split(',')
            .enumerate()
            .filter_map(|(i, part)| {
                let mut bits = part.split(';');
                let lang = Lang::parse(bits.next()?)?;
                let q = bits
                    .find_map(|b| b.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (q > 0.0).then_some((q, i, lang))
            })
            .collect();
        offered.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        offered.first().map(|o| o.2)
    }

    /// The command line's language: `LC_ALL`, `LC_MESSAGES`, then `LANG` (the first set);
    /// English when none names Chinese (`C`, `POSIX`, unset).
    pub fn from_env() -> Lang {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.trim().is_empty())
            .and_then(|v| Lang::parse(&v))
            .unwrap_or(Lang::En)
    }

    fn id(self) -> LanguageIdentifier {
        self.tag().parse().expect("our tags are valid")
    }

    /// The message `key` in this language.
    pub fn t(self, key: &str) -> String {
        LOCALES.lookup(&self.id(), key)
    }

    /// The message `key`, or `None` when this language's catalog has no such message.
    pub fn try_t(self, key: &str) -> Option<String> {
        LOCALES.try_lookup(&self.id(), key)
    }

    /// The message `key` with `n` as `$n` (its plural form chosen by the language's rules).
    pub fn n(self, key: &str, n: u64) -> String {
        self.with(key, &[("n", FluentValue::from(n))])
    }

    /// The message `key` with named arguments.
    pub fn with(self, key: &str, args: &[(&'static str, FluentValue<'_>)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue<'_>> = args
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), v.clone()))
            .collect();
        LOCALES.lookup_with_args(&self.id(), key, &args)
    }

    /// A short age: the two largest units — `1天2小时`, `1d 2h`; `0s` / `0秒` for nothing.
    pub fn age(self, d: Duration) -> String {
        let secs = d.as_secs();
        let units = [
            (secs / 86_400, "age-days"),
            (secs / 3600 % 24, "age-hours"),
            (secs / 60 % 60, "age-minutes"),
            (secs % 60, "age-seconds"),
        ];
        let parts: Vec<String> = units
            .iter()
            .skip_while(|(v, _)| *v == 0)
            .take(2)
            .filter(|(v, _)| *v > 0)
            .map(|(v, key)| self.n(key, *v))
            .collect();
        if parts.is_empty() {
            self.n("age-seconds", 0)
        } else {
            parts.join(&self.t("age-separator"))
        }
    }
}

impl std::str::FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Lang, String> {
        Lang::parse(s).ok_or_else(|| {
            format!("\"{s}\" is not a language expediter speaks: \"zh-CN\" or \"en\"")
        })
    }
}

#[cfg(test)]
mod tests;
