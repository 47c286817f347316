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
    let mut widths = headers.map(width);
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; N]| {
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
    };
    line(headers);
    for row in rows {
        line(std::array::from_fn(|i| row[i].as_str()));
    }
    out
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
}
