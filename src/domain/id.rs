//! Ids as they enter: a kunlun user id or a task id is one token. An empty id, one with
//! whitespace or control characters inside, or one holding a "," (lists of ids were once
//! stored joined by commas, and a Feishu id never holds one) is refused where it enters, with
//! the field named, so nothing downstream has to guess what an id is.

/// Why an id is refused; the caller names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdError {
    Empty,
    Whitespace,
    Control,
    Comma,
    TooLong,
}

/// The longest id taken: Feishu's ids are a few dozen characters.
pub const MAX_ID_LEN: usize = 128;

impl std::fmt::Display for IdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdError::Empty => "is empty",
            IdError::Whitespace => "holds whitespace (an id is one word; for several, give a list)",
            IdError::Control => "holds a control character",
            IdError::Comma => "holds a \",\" (an id is one word; for several, give a list)",
            IdError::TooLong => "is longer than 128 characters",
        })
    }
}

/// An id as typed: surrounding whitespace is dropped (configs that loaded before keep
/// loading), anything else odd is refused.
pub fn parse_id(raw: &str) -> Result<&str, IdError> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    for c in id.chars() {
        if c == ',' {
            return Err(IdError::Comma);
        }
        if c.is_control() || is_format_control(c) {
            return Err(IdError::Control);
        }
        if c.is_whitespace() {
            return Err(IdError::Whitespace);
        }
    }
    Ok(id)
}

/// Invisible characters that change how text around them reads (bidirectional overrides and
/// isolates, zero-width marks): never part of an id, and stripped from outside text on pages.
pub fn is_format_control(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}

/// Text from outside (labels, names) as a page shows it: without the characters that
/// override or embed a writing direction (U+202A–U+202E, U+2066–U+2069), which would let a
/// label reorder the words after it ("made by" someone else). Our own pages never use them.
pub fn without_bidi_overrides(text: String) -> String {
    if !text
        .chars()
        .any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
    {
        return text;
    }
    text.chars()
        .filter(|c| !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .collect()
}

/// A log line as written: every control or direction-changing character escaped (`\u{…}`),
/// so outside text in a field cannot end the line and forge another, or reorder it; the line's
/// own end stays, and so do the colour codes a terminal was given (`keep_escape`).
pub fn escape_log_line(line: &str, keep_escape: bool) -> std::borrow::Cow<'_, str> {
    let body = line.strip_suffix('\n').unwrap_or(line);
    let odd = |c: char| {
        (c.is_control() && c != '\t' && !(keep_escape && c == '\u{1b}')) || is_format_control(c)
    };
    if !body.chars().any(odd) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 16);
    for c in body.chars() {
        if odd(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    if body.len() != line.len() {
        out.push('\n');
    }
    std::borrow::Cow::Owned(out)
}

/// [`parse_id`] with the field named in the message, for config, CLI, API and console alike.
pub fn check_id(field: &str, raw: &str) -> Result<String, String> {
    parse_id(raw)
        .map(str::to_owned)
        .map_err(|e| format!("{field} {e}: {}", crate::domain::id::quoted(raw)))
}

/// An id as shown in a message: escaped, so a control character in it cannot forge a line.
pub fn quoted(raw: &str) -> String {
    format!("{:?}", raw.chars().take(80).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_were_valid_stay_valid() {
        for ok in [
            "7000",
            "ou_7d8a6e",
            " 8302 ",
            "1748000000000000001",
            "initiator",
        ] {
            assert!(parse_id(ok).is_ok(), "{ok}");
        }
        assert_eq!(parse_id(" 8302\t"), Ok("8302"));
    }

    #[test]
    fn outside_text_cannot_forge_a_log_line_or_reorder_a_page() {
        let line =
            "INFO console: signed in who=Mallory\nINFO console: signed in who=Boss\u{202e}\n";
        let escaped = escape_log_line(line, false);
        assert_eq!(escaped.matches('\n').count(), 1, "{escaped}");
        assert!(
            escaped.ends_with('\n') && escaped.contains("\\u{a}") && escaped.contains("\\u{202e}"),
            "{escaped}"
        );
        assert_eq!(escape_log_line("plain\n", false), "plain\n");
        assert_eq!(
            escape_log_line("\u{1b}[32mINFO\u{1b}[0m ok\n", true),
            "\u{1b}[32mINFO\u{1b}[0m ok\n"
        );
        assert!(escape_log_line("\u{1b}[2J\n", false).contains("\\u{1b}"));
        assert_eq!(
            without_bidi_overrides("报销\u{202e}txt.exe".into()),
            "报销txt.exe"
        );
    }

    #[test]
    fn odd_ids_are_refused_with_a_reason() {
        assert_eq!(parse_id(""), Err(IdError::Empty));
        assert_eq!(parse_id("   "), Err(IdError::Empty));
        assert_eq!(parse_id("8302,8303"), Err(IdError::Comma));
        assert_eq!(parse_id("83 02"), Err(IdError::Whitespace));
        assert_eq!(parse_id("83\u{3000}02"), Err(IdError::Whitespace));
        assert_eq!(parse_id("8302\n8303"), Err(IdError::Control));
        assert_eq!(parse_id("83\u{202E}02"), Err(IdError::Control));
        assert_eq!(parse_id(&"9".repeat(129)), Err(IdError::TooLong));
        let msg = check_id("--deputy", "8302,8303").unwrap_err();
        assert!(msg.contains("--deputy") && msg.contains(','), "{msg}");
        let msg = check_id("user_id", "a\nb").unwrap_err();
        assert!(!msg.contains('\n'), "{msg}");
    }
}
