//! The opinion (催办理由) template: text with `{placeholder}`s, checked when the config loads.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Deserialize;

use crate::i18n::Lang;

const PLACEHOLDERS: &[&str] = &["task_id", "label", "age", "n", "user", "initiator", "rule"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpinionTemplate {
    source: String,
    pieces: Vec<Piece>,
    /// The language `{age}` is said in (`[expedite] language`).
    lang: Lang,
}

/// Values for one rendering.
pub struct OpinionValues<'a> {
    pub task_id: &'a str,
    pub label: &'a str,
    pub age: Duration,
    pub n: u32,
    pub user: &'a str,
    pub initiator: &'a str,
    pub rule: &'a str,
}

impl OpinionTemplate {
    /// Parses a template; `{{` and `}}` stand for literal braces.
    pub fn parse(source: &str) -> Result<Self, String> {
        Self::parse_with(source, &[])
    }

    /// Parses a template that may also name `extra` placeholders (`[away] opinion`: `{deputy}`,
    /// `{until}`).
    pub fn parse_with(source: &str, extra: &[&'static str]) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => {
                                return Err(format!(
                                    "unclosed `{{{name}` in opinion; close it with `}}` or write `{{{{` for a literal brace"
                                ));
                            }
                        }
                    }
                    let Some(field) = PLACEHOLDERS.iter().chain(extra).find(|p| **p == name) else {
                        return Err(format!(
                            "unknown placeholder {{{name}}} in opinion; known: {}",
                            PLACEHOLDERS
                                .iter()
                                .chain(extra)
                                .map(|p| format!("{{{p}}}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ));
                    };
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Field(field));
                }
                '}' => {
                    return Err("stray `}` in opinion; write `}}` for a literal brace".to_owned());
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self {
            source: source.to_owned(),
            pieces,
            lang: Lang::default(),
        })
    }

    /// The language `{age}` is said in.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The same template, saying `{age}` in `lang`.
    pub fn in_language(mut self, lang: Lang) -> Self {
        self.lang = lang;
        self
    }

    pub fn render(&self, v: &OpinionValues<'_>) -> String {
        self.render_with(v, &[])
    }

    /// Renders with values for the `extra` placeholders the template was parsed with.
    pub fn render_with(&self, v: &OpinionValues<'_>, extra: &[(&str, &str)]) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Field("task_id") => out.push_str(v.task_id),
                Piece::Field("label") => out.push_str(v.label),
                Piece::Field("age") => out.push_str(&self.lang.age(v.age)),
                Piece::Field("n") => {
                    let _ = write!(out, "{}", v.n);
                }
                Piece::Field("user") => out.push_str(v.user),
                Piece::Field("initiator") => out.push_str(v.initiator),
                Piece::Field("rule") => out.push_str(v.rule),
                Piece::Field(other) => match extra.iter().find(|(name, _)| name == other) {
                    Some((_, value)) => out.push_str(value),
                    None => unreachable!("placeholder {other} is validated at parse time"),
                },
            }
        }
        out
    }
}

impl<'de> Deserialize<'de> for OpinionTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        OpinionTemplate::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A short human age: the two largest units, e.g. `1d 3h`, `3h 5m`, `42s`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, hours, mins, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (mins, "m"), (s, "s")]
        .iter()
        .skip_while(|(v, _)| *v == 0)
        .take(2)
        .filter(|(v, _)| *v > 0)
        .map(|(v, u)| format!("{v}{u}"))
        .collect();
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> OpinionValues<'static> {
        OpinionValues {
            task_id: "t1",
            label: "报销",
            age: Duration::from_secs(27 * 3600 + 60),
            n: 2,
            user: "Zhang San",
            initiator: "Li Si",
            rule: "finance",
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let t =
            OpinionTemplate::parse("{task_id}|{label}|{age}|{n}|{user}|{initiator}|{rule}|{{x}}")
                .unwrap();
        // `[expedite] language` is Chinese unless set: 「已等待 1天3小时」.
        assert_eq!(
            t.render(&values()),
            "t1|报销|1天3小时|2|Zhang San|Li Si|finance|{x}"
        );
        assert_eq!(
            t.in_language(Lang::En).render(&values()),
            "t1|报销|1d 3h|2|Zhang San|Li Si|finance|{x}"
        );
    }

    #[test]
    fn rejects_bad_templates() {
        for (src, fragment) in [
            ("{nope}", "unknown placeholder {nope}"),
            ("{age", "unclosed"),
            ("a } b", "stray"),
        ] {
            let err = OpinionTemplate::parse(src).unwrap_err();
            assert!(err.contains(fragment), "{src}: {err}");
        }
    }

    #[test]
    fn human_ages() {
        for (secs, want) in [
            (0, "0s"),
            (42, "42s"),
            (3700, "1h 1m"),
            (86_400, "1d"),
            (90_061, "1d 1h"),
            (7200, "2h"),
        ] {
            let d = Duration::from_secs(secs);
            assert_eq!(human_duration(d), want, "{secs}");
            // English `{age}` says what reminders said before languages came.
            assert_eq!(Lang::En.age(d), want, "{secs}");
        }
    }
}
