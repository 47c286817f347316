//! Logging: human-readable or JSON lines on stderr, level from `RUST_LOG` (default `info`).
//! Under systemd (`JOURNAL_STREAM` set) the journal adds timestamps, so we add none.

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// Reports a fatal error once: as a log event in JSON mode (so stderr stays pure JSON lines),
/// as plain `error: …` text otherwise.
pub fn fatal(message: &str) {
    match FORMAT.get() {
        Some(LogFormat::Json) => tracing::error!("{message}"),
        _ => eprintln!("error: {message}"),
    }
}

/// Without `RUST_LOG`: our own lines at info, libraries' only at warn (the scheduler's own
/// INFO chatter is not the product's log).
const DEFAULT_FILTER: &str = "warn,expediter=info";

pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    // An empty `RUST_LOG` means the default, as an unset one does.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    let under_systemd = std::env::var_os("JOURNAL_STREAM").is_some();
    let colour = use_colour(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || EscapingStderr {
            line: Vec::new(),
            keep_escape: colour && format == LogFormat::Pretty && !under_systemd,
            json: format == LogFormat::Json,
        })
        .with_target(false);
    let result = match (format, under_systemd) {
        (LogFormat::Json, _) => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        (LogFormat::Pretty, true) => builder.without_time().with_ansi(false).try_init(),
        // Run by hand: the local time with its offset, as the person at the terminal reads
        // the clock (JSON keeps UTC for machines; the journal adds its own).
        (LogFormat::Pretty, false) => builder
            .with_timer(tracing_subscriber::fmt::time::ChronoLocal::new(
                "%Y-%m-%dT%H:%M:%S%.3f%:z".to_owned(),
            ))
            .with_ansi(colour)
            .try_init(),
    };
    // A second init (tests calling into the library twice) keeps the first subscriber.
    let _ = result;
}

/// Standard error, one event at a time, with outside text in it escaped (names and labels
/// from Feishu): a newline or a direction override in a field cannot forge or reorder a line.
/// JSON lines are escaped by JSON itself (a field cannot end the line); they pass unchanged, so
/// that they stay JSON.
struct EscapingStderr {
    line: Vec<u8>,
    keep_escape: bool,
    json: bool,
}

impl std::io::Write for EscapingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let result = if self.json {
            std::io::stderr().lock().write_all(&self.line)
        } else {
            let text = String::from_utf8_lossy(&self.line);
            let escaped = crate::domain::id::escape_log_line(&text, self.keep_escape);
            std::io::stderr().lock().write_all(escaped.as_bytes())
        };
        self.line.clear();
        result
    }
}

impl Drop for EscapingStderr {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

/// Colour codes only on a terminal, and never when `NO_COLOR` is set (no-color.org): a pipe or a
/// file gets plain text.
fn use_colour(stderr_is_terminal: bool, no_color: bool) -> bool {
    stderr_is_terminal && !no_color
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        for (terminal, no_color, want) in [
            (true, false, true),
            (true, true, false),
            (false, false, false),
            (false, true, false),
        ] {
            assert_eq!(
                use_colour(terminal, no_color),
                want,
                "{terminal} {no_color}"
            );
        }
    }
}
