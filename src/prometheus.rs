//! Prometheus metrics: the one place that names them. With `[metrics] listen` the daemon
//! installs a recorder and serves `/metrics` in the text format; without it every function here
//! records into nothing (the `metrics` facade is a no-op until a recorder is installed).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const CYCLE_DURATION: &str = "expediter_cycle_duration_seconds";

/// Installs the recorder (once per process) and serves `/metrics` on `listen` until the
/// process ends. Fails when the address cannot be bound.
pub async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let handle = install()?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen} for [metrics]: {e}"))?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    handle.render(),
                )
                    .into_response()
            }
        }),
    );
    tracing::info!(listen = %listen, "serving Prometheus metrics at http://{listen}/metrics");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the metrics endpoint stopped: {e}");
        }
    });
    Ok(())
}

fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(CYCLE_DURATION.into()),
            &[
                0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
            ],
        )?
        .install_recorder()?;
    metrics::describe_gauge!(
        "expediter_active",
        "1 on the instance that lists and sends (always 1 on SQLite), 0 on a standby"
    );
    metrics::describe_gauge!(
        "expediter_quota_exhausted",
        "1 while Feishu's monthly API quota answer (99991403) holds counted calls back"
    );
    metrics::describe_gauge!(
        "expediter_lease_epoch",
        "PostgreSQL: the lease epoch this instance acts in, 0 while it stands by"
    );
    quota_exhausted(false);
    metrics::describe_gauge!(
        "expediter_bot_connected",
        "1 while the app bot's long connection to Feishu is up, 0 otherwise"
    );
    metrics::describe_counter!(
        "expediter_bot_actions_total",
        "Card clicks answered, by action (snooze, undo) and outcome (done, repeated, refused, unknown, failed)"
    );
    metrics::describe_counter!(
        "expediter_bot_connection_failures_total",
        "Long connection attempts that failed: retry (tried again) or fatal (stopped)"
    );
    metrics::describe_counter!(
        "expediter_expedites_total",
        "Expediting reminders per assignee, by rule and outcome (sent, failed, unknown)"
    );
    metrics::describe_counter!(
        "expediter_escalations_total",
        "Escalations per assignee, by rule, kind (cc, chat) and outcome"
    );
    metrics::describe_counter!(
        "expediter_api_calls_total",
        "Calls to Feishu by API and result (ok, rate_limited, token, transient, final)"
    );
    metrics::describe_counter!(
        "expediter_rate_limit_waits_total",
        "Times Feishu answered 429 / 99991400 and an API paused"
    );
    metrics::describe_histogram!(CYCLE_DURATION, "How long cycles took");
    metrics::describe_gauge!(
        "expediter_last_cycle_success_timestamp_seconds",
        "When the last cycle that ran to its end finished (Unix time)"
    );
    metrics::describe_gauge!(
        "expediter_pending_tasks",
        "Tasks pending for watched users after the last cycle"
    );
    metrics::describe_gauge!(
        "expediter_oldest_pending_task_age_seconds",
        "Age of the oldest pending task after the last cycle"
    );
    Ok(handle)
}

/// Shows the counters of what the config can do at 0, so that `/metrics` has them (and a rate()
/// over them works) before their first increase: each rule's reminders and escalations by
/// outcome, each API's successful calls, and rate-limit waits. Called at start and after a
/// reload; counts already made are kept.
pub fn known_series(rules: &[crate::domain::rule::Rule], apis: &[&'static str]) {
    const OUTCOMES: [&str; 3] = ["sent", "failed", "unknown"];
    for r in rules.iter().filter(|r| r.max_times > 0) {
        for outcome in OUTCOMES {
            expedites(&r.name, outcome, 0);
        }
        if let Some(e) = &r.escalate {
            let kinds = [("cc", !e.cc.is_empty()), ("chat", e.chat)];
            for (kind, _) in kinds.into_iter().filter(|(_, on)| *on) {
                for outcome in OUTCOMES {
                    escalations(&r.name, kind, outcome, 0);
                }
            }
        }
    }
    let move_kinds = crate::domain::CallKind::ALL
        .into_iter()
        .filter(|k| k.moves());
    for kind in move_kinds.map(|k| k.as_str()) {
        for outcome in ["sent", "failed", "unknown", "refused"] {
            moves(kind, outcome, 0);
        }
    }
    for api in apis {
        metrics::counter!("expediter_api_calls_total", "api" => *api, "result" => "ok")
            .increment(0);
    }
    metrics::counter!("expediter_rate_limit_waits_total").increment(0);
}

/// Reminders that went out (or may have, or failed) for `n` assignees under `rule`.
pub fn expedites(rule: &str, outcome: &'static str, n: u64) {
    metrics::counter!("expediter_expedites_total", "rule" => rule.to_owned(), "outcome" => outcome)
        .increment(n);
}

pub fn escalations(rule: &str, kind: &'static str, outcome: &'static str, n: u64) {
    metrics::counter!("expediter_escalations_total", "rule" => rule.to_owned(), "kind" => kind, "outcome" => outcome)
        .increment(n);
}

/// Moves (transfer, add_assignee) by outcome, counted by the assignees moved from.
pub fn moves(kind: &'static str, outcome: &'static str, n: u64) {
    metrics::counter!("expediter_moves_total", "kind" => kind, "outcome" => outcome).increment(n);
}

pub fn api_call(api: &'static str, result: &'static str) {
    metrics::counter!("expediter_api_calls_total", "api" => api, "result" => result).increment(1);
}

pub fn rate_limit_wait() {
    metrics::counter!("expediter_rate_limit_waits_total").increment(1);
}

/// A cycle ran to its end at `at`.
pub fn cycle_finished(took: Duration, at: DateTime<Utc>) {
    metrics::histogram!(CYCLE_DURATION).record(took.as_secs_f64());
    metrics::gauge!("expediter_last_cycle_success_timestamp_seconds")
        .set(at.timestamp_millis() as f64 / 1000.0);
}

/// What is pending after a cycle.
pub fn backlog(pending_tasks: u64, oldest_age: Duration) {
    metrics::gauge!("expediter_pending_tasks").set(pending_tasks as f64);
    metrics::gauge!("expediter_oldest_pending_task_age_seconds").set(oldest_age.as_secs_f64());
}

/// Whether this instance is the one that acts.
pub fn active(on: bool) {
    metrics::gauge!("expediter_active").set(if on { 1.0 } else { 0.0 });
}

/// PostgreSQL: the lease epoch held (0: none).
pub fn lease_epoch(epoch: i64) {
    metrics::gauge!("expediter_lease_epoch").set(epoch as f64);
}

/// Whether the monthly quota hold is on.
pub fn quota_exhausted(on: bool) {
    metrics::gauge!("expediter_quota_exhausted").set(if on { 1.0 } else { 0.0 });
}
