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

pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let under_systemd = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = match (format, under_systemd) {
        (LogFormat::Json, _) => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        (LogFormat::Pretty, true) => builder.without_time().with_ansi(false).try_init(),
        (LogFormat::Pretty, false) => builder.try_init(),
    };
    // A second init (tests calling into the library twice) keeps the first subscriber.
    let _ = result;
}
