//! Where JSON values begin and end, found without decoding them. A listing answer is indexed
//! this way — the envelope's `code`, `msg` and `data`, the page's `count` and each entry's
//! place — in one pass over the bytes; serde then decodes only what is needed (the scalars
//! named, and the entries that changed). Parsing the envelope and then the page with serde
//! went over every byte twice before any entry was decoded.
//!
//! This is structure only: strings are matched with their escapes, brackets with their kind,
//! scalars are taken as the run of bytes up to the next delimiter. Whatever is decoded is
//! checked by serde; a shape this module does not expect (an escaped or repeated key, a
//! nesting deeper than 64) is `None`, and the caller falls back to serde for the whole text.

use std::ops::Range;

/// The deepest nesting tracked; deeper text is left to serde.
const MAX_DEPTH: u32 = 64;

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end (exclusive) of the string whose opening quote is at `i`. Strings in an answer are
/// short (keys, ids, labels): a plain loop beats both a vectorised search set up per string
/// and eight bytes at a time (each measured by instruction count on the cycle benchmark).
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'"' => return Some(j + 1),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
    None
}

/// The end (exclusive) of the value that starts at `i`.
pub(super) fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            // One bit per open bracket: set for an object.
            let mut kinds: u64 = 0;
            let mut depth: u32 = 0;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    open @ (b'{' | b'[') => {
                        if depth == MAX_DEPTH {
                            return None;
                        }
                        kinds = (kinds << 1) | u64::from(open == b'{');
                        depth += 1;
                    }
                    close @ (b'}' | b']') => {
                        if depth == 0 || (kinds & 1 == 1) != (close == b'}') {
                            return None;
                        }
                        kinds >>= 1;
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        b',' | b':' | b'}' | b']' => None,
        _ => {
            let mut j = i;
            while j < b.len()
                && !matches!(
                    b[j],
                    b',' | b':' | b'}' | b']' | b'{' | b'[' | b'"' | b' ' | b'\t' | b'\n' | b'\r'
                )
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// Walks the object that starts at `i` (no whitespace before it): `visit` gets each key as
/// written and where its value starts, and returns where the value ends — skimmed with
/// [`value_end`], or walked into. The object's end; `None` when it is not an object, is
/// malformed, a key holds an escape, or `visit` says `None`.
pub(super) fn walk_object(
    b: &[u8],
    i: usize,
    mut visit: impl FnMut(&[u8], usize) -> Option<usize>,
) -> Option<usize> {
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Some(i + 1);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, i)?;
        let key = &b[i + 1..key_end - 1];
        if key.contains(&b'\\') {
            return None;
        }
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let end = visit(key, skip_ws(b, i + 1))?;
        i = skip_ws(b, end);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => return Some(i + 1),
            _ => return None,
        }
    }
}

/// Walks the array that starts at `i` as [`walk_object`] walks an object: `visit` gets where
/// each element starts and returns where it ends.
pub(super) fn walk_array(
    b: &[u8],
    i: usize,
    mut visit: impl FnMut(usize) -> Option<usize>,
) -> Option<usize> {
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let mut i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Some(i + 1);
    }
    loop {
        let end = visit(i)?;
        i = skip_ws(b, end);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b']' => return Some(i + 1),
            _ => return None,
        }
    }
}

/// Where the one value of `b` starts, after any whitespace.
pub(super) fn start(b: &[u8]) -> usize {
    skip_ws(b, 0)
}

/// Nothing but whitespace after `end`.
pub(super) fn ends_at(b: &[u8], end: usize) -> bool {
    skip_ws(b, end) == b.len()
}

/// The span of a value found while walking: set once, a second one (a repeated key) is `None`.
pub(super) fn set_once(slot: &mut Option<Range<usize>>, span: Range<usize>) -> Option<usize> {
    if slot.is_some() {
        return None;
    }
    let end = span.end;
    *slot = Some(span);
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_end_where_serde_says() {
        // Each value is followed by a delimiter; its end is checked against serde's RawValue.
        let cases = [
            r#""plain""#,
            r#""with \"quotes\" and \\ backslash\\""#,
            r#""中文 and \u00e9""#,
            r#""a longer string, eight bytes at a time \" until the escape, then \\""#,
            r#""exactly8""#,
            r#""1234567\"""#,
            "12.5e3",
            "-7",
            "true",
            "null",
            r#"{"a": [1, {"b": "]}"}], "c": {}}"#,
            r#"[[], [[]], {"x": "}"}]"#,
            "{}",
            "[]",
        ];
        for case in cases {
            let b = format!("{case} ,");
            let end = value_end(b.as_bytes(), 0).unwrap_or_else(|| panic!("{case}"));
            let raw: &serde_json::value::RawValue = serde_json::from_str(case).unwrap();
            assert_eq!(&b[..end], raw.get(), "{case}");
        }
    }

    #[test]
    fn malformed_structure_is_none() {
        for bad in [
            r#"{"a": 1"#,
            r#"{"a": [1}"#,
            r#"[1, 2}"#,
            r#""open"#,
            r#""ends in escape\"#,
            r#""a long string that never ends, read eight bytes at a time"#,
            "]",
            ",",
        ] {
            assert_eq!(value_end(bad.as_bytes(), 0), None, "{bad}");
        }
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(value_end(deep.as_bytes(), 0), None, "too deep");
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert_eq!(value_end(ok.as_bytes(), 0), Some(ok.len()));
    }

    /// The members of an object and the elements of its arrays, as text, or `None`.
    fn walk(b: &str) -> Option<Vec<(String, Vec<String>)>> {
        let bytes = b.as_bytes();
        let mut out = Vec::new();
        let end = walk_object(bytes, start(bytes), |key, i| {
            let key = String::from_utf8(key.to_vec()).unwrap();
            if bytes[i] == b'[' {
                let mut items = Vec::new();
                let end = walk_array(bytes, i, |j| {
                    let end = value_end(bytes, j)?;
                    items.push(b[j..end].to_owned());
                    Some(end)
                })?;
                out.push((key, items));
                Some(end)
            } else {
                let end = value_end(bytes, i)?;
                out.push((key, vec![b[i..end].to_owned()]));
                Some(end)
            }
        })?;
        ends_at(bytes, end).then_some(out)
    }

    #[test]
    fn objects_and_arrays_are_walked() {
        let b = r#" { "count" : "2", "tasks":[ {"task_id": "1"} ,"x", [] ] , "e": {} } "#;
        assert_eq!(
            walk(b).unwrap(),
            [
                ("count".to_owned(), vec![r#""2""#.to_owned()]),
                (
                    "tasks".to_owned(),
                    vec![
                        r#"{"task_id": "1"}"#.to_owned(),
                        r#""x""#.to_owned(),
                        "[]".to_owned()
                    ]
                ),
                ("e".to_owned(), vec!["{}".to_owned()]),
            ]
        );
        assert_eq!(walk("{}").unwrap(), []);
        assert_eq!(walk(r#"{"a": []}"#).unwrap(), [("a".to_owned(), vec![])]);
        // Shapes left to serde.
        for other in [
            r#"{"\u0061": 1}"#,
            r#"{"a" 1}"#,
            r#"{"a": 1,}"#,
            r#"{"a": [1,]}"#,
            r#"{"a": [1 2]}"#,
            r#"{"a": 1} trailing"#,
            "[1]",
            r#"{"a": 1"#,
        ] {
            assert_eq!(walk(other), None, "{other}");
        }
        let mut slot = None;
        assert_eq!(set_once(&mut slot, 1..3), Some(3));
        assert_eq!(set_once(&mut slot, 4..5), None, "a repeated key");
    }
}
