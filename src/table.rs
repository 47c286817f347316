//! Text tables for the terminal (`plan`, `silence list`, `away list`, `report`): columns are
//! measured in display width — an East Asian wide character takes two columns — so that tables
//! with Chinese names and labels line up. A leaf: text only.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthStr;

/// How many columns `s` takes on a terminal.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` padded with spaces to `columns` (as it is, when wider).
pub fn pad(s: &str, columns: usize) -> String {
    format!("{s}{}", " ".repeat(columns.saturating_sub(width(s))))
}

/// `s` cut to at most `columns`, with "…" where it was cut.
pub fn truncate(s: &str, columns: usize) -> String {
    if width(s) <= columns {
        return s.to_owned();
    }
    let mut out = String::new();
    for c in s.chars() {
        if width(&out) + width(c.encode_utf8(&mut [0; 4])) + 1 > columns {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// The rows under their headers, each column as wide as its widest cell, two spaces between
/// columns; the last column is not padded.
pub fn render<const N: usize>(headers: [&str; N], rows: &[[String; N]]) -> String {
    let widths = widths(headers, rows);
    let mut out = String::new();
    line(&mut out, headers, &widths);
    for row in rows {
        line(&mut out, std::array::from_fn(|i| row[i].as_str()), &widths);
    }
    out
}

/// Like [`render`], but at most `max` columns wide where it can be: column `wrap` takes what
/// the others leave (at least 24 columns) and its text wraps at spaces onto lines of its own,
/// the other cells blank there.
pub fn render_fitted<const N: usize>(
    headers: [&str; N],
    rows: &[[String; N]],
    wrap: usize,
    max: usize,
) -> String {
    let mut widths = widths(headers, rows);
    let others: usize = (0..N).filter(|i| *i != wrap).map(|i| widths[i]).sum();
    let room = max.saturating_sub(others + 2 * (N - 1)).max(24);
    widths[wrap] = widths[wrap].min(room);
    let mut out = String::new();
    line(&mut out, headers, &widths);
    for row in rows {
        let parts = wrap_text(&row[wrap], widths[wrap]);
        for (k, part) in parts.iter().enumerate() {
            let cells = std::array::from_fn(|i| match (i == wrap, k) {
                (true, _) => part.as_str(),
                (false, 0) => row[i].as_str(),
                (false, _) => "",
            });
            line(&mut out, cells, &widths);
        }
    }
    out
}

/// Each column's width: its widest cell, header included.
fn widths<const N: usize>(headers: [&str; N], rows: &[[String; N]]) -> [usize; N] {
    let mut widths = headers.map(width);
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(width(cell));
        }
    }
    widths
}

/// One line of a table: each cell padded to its column, two spaces between, the last as it is.
fn line<const N: usize>(out: &mut String, cells: [&str; N], widths: &[usize; N]) {
    let mut l = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i + 1 == N {
            l.push_str(cell);
        } else {
            let _ = write!(l, "{}  ", pad(cell, widths[i]));
        }
    }
    out.push_str(l.trim_end());
    out.push('\n');
}

/// `text` in lines of at most `columns`, broken at spaces (a word longer than a line is cut).
pub fn wrap_text(text: &str, columns: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let last = lines.last_mut().expect("never empty");
        let need = width(word) + usize::from(!last.is_empty());
        if width(last) + need <= columns || last.is_empty() && width(word) <= columns {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
            continue;
        }
        let mut rest = word.to_owned();
        while width(&rest) > columns {
            let head = truncate(&rest, columns);
            let kept = head.trim_end_matches('…').to_owned();
            if kept.is_empty() {
                break;
            }
            lines.push(kept.clone());
            rest = rest[kept.len()..].to_owned();
        }
        lines.push(rest);
    }
    lines.retain(|l| !l.is_empty());
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_counts_two_columns_and_tables_line_up() {
        assert_eq!(width("报销ab"), 6);
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("报销审批单", 5), "报销…");
        assert_eq!(pad("张三", 6), "张三  ");
        let table = render(
            ["WHO", "TASK"],
            &[
                ["张三".to_owned(), "t1".to_owned()],
                ["Li Si".to_owned(), "t2".to_owned()],
            ],
        );
        let at: Vec<usize> = table
            .lines()
            .map(|l| width(&l[..l.find('t').or(l.find("TASK")).unwrap()]))
            .collect();
        assert_eq!(at, [7, 7, 7], "{table}");
    }

    #[test]
    fn a_long_column_wraps_to_fit() {
        let rows = [[
            "t1".to_owned(),
            "张三".to_owned(),
            "reminder 2 is due at 2026-12-08 09:00 and goes then, inside the calendar's hours"
                .to_owned(),
            "报销".to_owned(),
        ]];
        let table = render_fitted(["TASK", "WHO", "WHY", "LABEL"], &rows, 2, 50);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines.len() > 2, "{table}");
        for l in &lines {
            assert!(width(l) <= 50, "{l:?} in\n{table}");
        }
        assert!(
            lines[1].starts_with("t1") && lines[1].ends_with("报销"),
            "{table}"
        );
        assert!(
            lines[2]
                .trim_start()
                .starts_with(|c: char| c.is_alphanumeric()),
            "{table}"
        );
        let words: Vec<String> = lines[1..]
            .iter()
            .map(|l| {
                l.trim()
                    .trim_start_matches("t1")
                    .trim()
                    .trim_start_matches("张三")
                    .trim()
            })
            .map(|l| l.trim_end_matches("报销").trim().to_owned())
            .collect();
        assert_eq!(words.join(" "), rows[0][2]);
        assert_eq!(
            wrap_text("a-very-long-word", 5).concat(),
            "a-very-long-word"
        );
    }
}
