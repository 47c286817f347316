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
