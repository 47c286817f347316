//! The Feishu open API client: tenant token, task listing, expediting. Every call goes through
//! one path that paces it, checks `code`, refreshes the token and retries what may be retried.

pub mod error;
mod http;
pub mod rate;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

pub use error::{ErrorClass, FeishuError};
pub use http::client_builder;
pub use wire::{Entry, ListedTask, Page, RawPage};

use crate::clock::Clock;
use crate::progress::Progress;
use crate::prometheus;
use crate::secret::Secret;
use rate::Pacer;

pub const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
pub const QUERY_PATH: &str = "/open-apis/apaas/v1/user_task/query";
pub const PAGE_SIZE: u64 = 50;
/// Feishu accepts at most this many user ids per expediting call.
pub const MAX_EXPEDITE_IDS: usize = 20;
const JSON_UTF8: &str = "application/json; charset=utf-8";

pub fn expedite_path(task_id: &str) -> String {
    format!(
        "/open-apis/apaas/v1/user_tasks/{}/expediting",
        urlencode(task_id)
    )
}

pub fn cc_path(task_id: &str) -> String {
    format!("/open-apis/apaas/v1/user_tasks/{}/cc", urlencode(task_id))
}

pub fn chat_group_path(task_id: &str) -> String {
    format!(
        "/open-apis/apaas/v1/user_tasks/{}/chat_group",
        urlencode(task_id)
    )
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The rate-limited APIs; each has its own budget (`requests_per_minute` each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Query,
    Expedite,
    /// Copy a task to someone (escalation).
    Cc,
    /// Open a group chat about a task, or invite into it (escalation).
    ChatGroup,
}

impl Api {
    pub const ALL: [Api; 4] = [Api::Query, Api::Expedite, Api::Cc, Api::ChatGroup];

    pub fn name(self) -> &'static str {
        match self {
            Api::Query => "user_task.query",
            Api::Expedite => "user_task.expediting",
            Api::Cc => "user_task.cc",
            Api::ChatGroup => "user_task.chat_group",
        }
    }

    /// Does a call change something on the platform? Such a call is never repeated after an
    /// answer that may mean it was done (see [`FeishuError::outcome_unknown`]).
    pub fn acts(self) -> bool {
        !matches!(self, Api::Query)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A paced turn to call one API, from [`FeishuClient::reserve`].
#[must_use]
pub struct Slot {
    api: Api,
    /// Asked right before each attempt of the call: false holds it back, unsent.
    fence: Option<Fence>,
}

/// Whether a call that acts may still go out: on PostgreSQL, whether this instance's lease
/// holds by its own monotonic clock.
pub type Fence = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slot({:?}, fenced: {})", self.api, self.fence.is_some())
    }
}

impl Slot {
    /// This slot's call (and its retries) go out only while `fence` says so.
    pub fn fenced_by(self, fence: Fence) -> Slot {
        Slot {
            fence: Some(fence),
            ..self
        }
    }
}

/// How hard to try before giving up on one call.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for transient errors.
    pub max_retries: u32,
    /// First backoff; doubled each retry, with full jitter, capped at `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// How many rate-limit waits one call may sit through.
    pub max_rate_limit_waits: u32,
    /// Wait when a rate-limit answer carries no `x-ogw-ratelimit-reset`.
    pub default_reset: Duration,
    /// Never wait longer than this for a reset.
    pub max_reset: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_rate_limit_waits: 5,
            default_reset: Duration::from_secs(1),
            max_reset: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_backoff);
        // Full jitter, but never less than half, so retries stay spread and still back off.
        exp.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub base_url: String,
    pub app_id: String,
    pub app_secret: Secret,
    pub requests_per_minute: u32,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// Where calls report that they moved, for the watchdog.
    pub progress: Progress,
    /// Wall time, for the monthly quota hold (which ends on a calendar date).
    pub clock: Clock,
}

/// Counters since the client was made; a cycle reports the difference.
#[derive(Debug, Default)]
pub struct Stats {
    /// Calls per API, in [`Api::ALL`] order.
    pub calls: [AtomicU64; 4],
    pub rate_limit_waits: AtomicU64,
    pub retries: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub query_calls: u64,
    pub expedite_calls: u64,
    pub cc_calls: u64,
    pub chat_group_calls: u64,
    pub rate_limit_waits: u64,
    pub retries: u64,
}

impl StatsSnapshot {
    pub fn since(self, earlier: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            query_calls: self.query_calls - earlier.query_calls,
            expedite_calls: self.expedite_calls - earlier.expedite_calls,
            cc_calls: self.cc_calls - earlier.cc_calls,
            chat_group_calls: self.chat_group_calls - earlier.chat_group_calls,
            rate_limit_waits: self.rate_limit_waits - earlier.rate_limit_waits,
            retries: self.retries - earlier.retries,
        }
    }
}

struct CachedToken {
    value: Secret,
    refresh_at: Instant,
}

/// A handle to Feishu; cheap to clone, shares its token, pacers and counters.
#[derive(Clone)]
pub struct FeishuClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    settings: ClientSettings,
    token: Mutex<Option<CachedToken>>,
    /// One pacer per API, in [`Api::ALL`] order.
    pacers: [Pacer; 4],
    stats: Stats,
    /// The listing's address, parsed once.
    query_url: Option<reqwest::Url>,
    /// Until when counted calls are held back: the tenant's monthly quota is used up.
    quota_hold: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl FeishuClient {
    pub fn new(settings: ClientSettings) -> Result<Self, FeishuError> {
        let http = http::client_builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| FeishuError::Connect(format!("cannot build the HTTP client: {e}")))?;
        let query_url = reqwest::Url::parse(&format!("{}{QUERY_PATH}", settings.base_url)).ok();
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                pacers: Api::ALL.map(|_| Pacer::per_minute(settings.requests_per_minute)),
                query_url,
                settings,
                token: Mutex::new(None),
                stats: Stats::default(),
                quota_hold: std::sync::Mutex::new(None),
            }),
        })
    }

    pub fn stats(&self) -> StatsSnapshot {
        let s = &self.inner.stats;
        StatsSnapshot {
            query_calls: s.calls[Api::Query.index()].load(Ordering::Relaxed),
            expedite_calls: s.calls[Api::Expedite.index()].load(Ordering::Relaxed),
            cc_calls: s.calls[Api::Cc.index()].load(Ordering::Relaxed),
            chat_group_calls: s.calls[Api::ChatGroup.index()].load(Ordering::Relaxed),
            rate_limit_waits: s.rate_limit_waits.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
        }
    }

    /// Makes sure a call could go now, before an intent is written for a call that acts: no
    /// quota hold, and a tenant token at hand (fetched if none is cached). A call that could
    /// not go is not attempted at all.
    pub async fn ready_to_call(&self) -> Result<(), FeishuError> {
        self.check_quota_hold()?;
        self.token()
            .await
            .map(|_| ())
            .map_err(|e| FeishuError::NoToken(Box::new(e)))
    }

    /// Until when the monthly quota hold lasts, if one does.
    pub fn quota_hold(&self) -> Option<DateTime<Utc>> {
        let mut hold = self
            .inner
            .quota_hold
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match *hold {
            Some(until) if self.inner.settings.clock.now() >= until => {
                *hold = None;
                prometheus::quota_exhausted(false);
                tracing::info!("a new month: the monthly API quota hold is over; calls resume");
                None
            }
            other => other,
        }
    }

    /// Ends the monthly quota hold now (on SIGHUP: the tenant's quota may have been raised).
    pub fn end_quota_hold(&self) {
        let mut hold = self
            .inner
            .quota_hold
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if hold.take().is_some() {
            prometheus::quota_exhausted(false);
            tracing::info!("the monthly API quota hold ends early on reload; calls resume");
        }
    }

    /// `Err` (not sent) while the monthly quota hold lasts.
    pub fn check_quota_hold(&self) -> Result<(), FeishuError> {
        match self.quota_hold() {
            Some(until) => Err(FeishuError::QuotaHeld {
                until: until
                    .with_timezone(&chrono_tz::Asia::Shanghai)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
            }),
            None => Ok(()),
        }
    }

    /// Feishu said the tenant's monthly quota is used up: every counted call waits for the first
    /// of the next month in Asia/Shanghai (the platform's calendar). Said once, loudly.
    fn hold_for_quota(&self) {
        let until = next_month_start(self.inner.settings.clock.now());
        let mut hold = self
            .inner
            .quota_hold
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if hold.replace(until).is_none() {
            prometheus::quota_exhausted(true);
            let shown = until
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%Y-%m-%d %H:%M");
            tracing::error!(code = error::QUOTA_CODE, until = %shown,
                "Feishu says the tenant's monthly API quota is used up (code 99991403): no listing or reminder is sent until {shown} Asia/Shanghai, when it resets; what is due stays due. If the tenant's quota is raised, reload (SIGHUP, `systemctl reload expediter`) or restart to resume at once");
        }
    }

    /// Fetches a fresh tenant token (used by `check --online`); returns its lifetime.
    pub async fn verify_credentials(&self) -> Result<Duration, FeishuError> {
        *self.inner.token.lock().await = None;
        let (_, lifetime) = self.fetch_token().await?;
        Ok(lifetime)
    }

    /// One page of `user`'s pending tasks assigned to them, optionally only of some flows, as
    /// text: [`RawPage::decode`] reads it. An answer hashing to `known` is not parsed at all.
    pub async fn query_page(
        &self,
        user: &str,
        offset: u64,
        api_ids: Option<&[String]>,
        known: Option<u64>,
    ) -> Result<RawPage, FeishuError> {
        let mut body = json!({
            "kunlun_user_id": user,
            "type": "pending",
            "source": "assignMe",
            "limit": PAGE_SIZE.to_string(),
            "offset": offset.to_string(),
        });
        if let Some(ids) = api_ids {
            body["api_ids"] = json!(ids);
        }
        let answer = self
            .call(Api::Query, None, QUERY_PATH, &body, known)
            .await?;
        Ok(RawPage::new(answer))
    }

    /// Waits for the next free slot of `api`'s budget. The caller uses it for its next call to
    /// that API; the expediting path takes its slot *before* recording the intent, so the
    /// moment between "intent on disk" and "request sent" stays as short as possible.
    pub async fn reserve(&self, api: Api) -> Slot {
        self.paced(api).await;
        Slot { api, fence: None }
    }

    /// When the next call to `api` may go, without taking that turn.
    pub fn next_slot(&self, api: Api) -> Instant {
        self.pacer(api).next_free()
    }

    /// Where this client's calls report that they moved.
    pub fn progress(&self) -> &Progress {
        &self.inner.settings.progress
    }

    /// The secret this client fetches tokens with.
    pub fn app_secret(&self) -> &Secret {
        &self.inner.settings.app_secret
    }

    async fn paced(&self, api: Api) {
        let pacer = self.pacer(api);
        let _wait = self
            .inner
            .settings
            .progress
            .waiting_until(pacer.next_free() + pacer.period());
        pacer.acquire().await;
    }

    /// Sends one reminder for `task_id` to `user_ids` (1..=20), in a slot from
    /// [`reserve`](Self::reserve). A timeout or a broken answer is returned at once, never
    /// retried: the platform may have acted.
    pub async fn expedite(
        &self,
        slot: Slot,
        task_id: &str,
        operator: &str,
        user_ids: &[String],
        opinion: &str,
    ) -> Result<(), FeishuError> {
        debug_assert!(!user_ids.is_empty() && user_ids.len() <= MAX_EXPEDITE_IDS);
        let mut body = json!({
            "operator_user_id": operator,
            "expediting_user_ids": user_ids,
        });
        if !opinion.is_empty() {
            body["opinion"] = json!(opinion);
        }
        debug_assert_eq!(slot.api, Api::Expedite);
        self.call(
            Api::Expedite,
            Some(slot),
            &expedite_path(task_id),
            &body,
            None,
        )
        .await
        .map(|_| ())
    }

    /// Copies `task_id` to `user_ids` (escalation), in a slot from [`reserve`](Self::reserve).
    /// Never retried after an answer that may mean it was done.
    pub async fn cc(
        &self,
        slot: Slot,
        task_id: &str,
        operator: &str,
        user_ids: &[String],
    ) -> Result<(), FeishuError> {
        debug_assert_eq!(slot.api, Api::Cc);
        let body = json!({"operator_user_id": operator, "cc_user_ids": user_ids});
        self.call(Api::Cc, Some(slot), &cc_path(task_id), &body, None)
            .await
            .map(|_| ())
    }

    /// Opens a group chat about `task_id` with `invite` (or, with `chat_id`, invites them into
    /// that chat); returns the chat's id. Never retried after an answer that may mean it was done.
    pub async fn chat_group(
        &self,
        slot: Slot,
        task_id: &str,
        operator: &str,
        invite: &[String],
        chat_id: Option<&str>,
        chat_name: &str,
    ) -> Result<Option<String>, FeishuError> {
        debug_assert_eq!(slot.api, Api::ChatGroup);
        let mut body = json!({"operator_user_id": operator, "invite_user_ids": invite});
        if let Some(id) = chat_id {
            body["chat_id"] = json!(id);
        }
        if !chat_name.is_empty() {
            body["chat_name"] = json!(chat_name);
        }
        let answer = self
            .call(
                Api::ChatGroup,
                Some(slot),
                &chat_group_path(task_id),
                &body,
                None,
            )
            .await?;
        Ok(serde_json::from_slice::<Value>(&answer.data())
            .ok()
            .and_then(|v| v.get("chat_id").and_then(wire::as_string))
            .filter(|id| !id.is_empty()))
    }

    fn pacer(&self, api: Api) -> &Pacer {
        &self.inner.pacers[api.index()]
    }

    /// The one path every business call takes.
    async fn call(
        &self,
        api: Api,
        mut slot: Option<Slot>,
        path: &str,
        body: &Value,
        known: Option<u64>,
    ) -> Result<wire::Answer, FeishuError> {
        let policy = &self.inner.settings.retry;
        let fence = slot.as_ref().and_then(|s| s.fence.clone());
        let mut token_retried = false;
        let mut retries = 0;
        let mut rate_waits = 0;
        loop {
            self.check_quota_hold()?;
            // Without a token nothing leaves: whatever went wrong getting one, this call was
            // not sent (and a call that acts stays due).
            let token = self
                .token()
                .await
                .map_err(|e| FeishuError::NoToken(Box::new(e)))?;
            // Every attempt takes a slot: retries count against the budget too.
            if slot.take().is_none() {
                self.paced(api).await;
            }
            // The last moment before the request leaves.
            if fence.as_ref().is_some_and(|may_act| !may_act()) {
                return Err(FeishuError::NotActive);
            }
            self.inner.stats.calls[api.index()].fetch_add(1, Ordering::Relaxed);
            let err = match self.post(path, Some(&token), body, known).await {
                Ok(answer) => {
                    prometheus::api_call(api.name(), "ok");
                    return Ok(answer);
                }
                Err(e) => e,
            };
            prometheus::api_call(
                api.name(),
                match err.class() {
                    ErrorClass::Token => "token",
                    ErrorClass::RateLimited => "rate_limited",
                    ErrorClass::Transient => "transient",
                    ErrorClass::Final => "final",
                },
            );
            if err.code() == Some(error::QUOTA_CODE) {
                self.hold_for_quota();
                return Err(err);
            }
            match err.class() {
                ErrorClass::Token if !token_retried => {
                    tracing::info!(
                        api = api.name(),
                        code = err.code(),
                        "tenant token refused; fetching a new one"
                    );
                    self.drop_token(&token).await;
                    token_retried = true;
                }
                ErrorClass::RateLimited if rate_waits < policy.max_rate_limit_waits => {
                    let FeishuError::RateLimited { reset, .. } = err else {
                        unreachable!()
                    };
                    let wait = reset.min(policy.max_reset);
                    tracing::warn!(
                        api = api.name(),
                        wait_ms = wait.as_millis() as u64,
                        "rate limited by Feishu; pausing this API"
                    );
                    self.pacer(api).hold_until(Instant::now() + wait);
                    self.inner
                        .stats
                        .rate_limit_waits
                        .fetch_add(1, Ordering::Relaxed);
                    prometheus::rate_limit_wait();
                    rate_waits += 1;
                }
                ErrorClass::Transient if api.acts() && err.outcome_unknown() => {
                    return Err(err);
                }
                ErrorClass::Transient if retries < policy.max_retries => {
                    let wait = policy.backoff(retries);
                    tracing::warn!(api = api.name(), error = %err, retry = retries + 1, wait_ms = wait.as_millis() as u64, "transient Feishu error; retrying");
                    retries += 1;
                    self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.sleep(wait).await;
                }
                _ => return Err(err),
            }
        }
    }

    async fn token(&self) -> Result<Secret, FeishuError> {
        let mut cached = self.inner.token.lock().await;
        if let Some(t) = cached.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(t.value.clone());
        }
        let policy = &self.inner.settings.retry;
        let mut retries = 0;
        let (value, lifetime) = loop {
            match self.fetch_token().await {
                Ok(t) => break t,
                Err(e)
                    if matches!(e.class(), ErrorClass::Transient | ErrorClass::RateLimited)
                        && retries < policy.max_retries =>
                {
                    let wait = match &e {
                        FeishuError::RateLimited { reset, .. } => (*reset).min(policy.max_reset),
                        _ => policy.backoff(retries),
                    };
                    tracing::warn!(error = %e, retry = retries + 1, "fetching the tenant token failed; retrying");
                    retries += 1;
                    self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
                    self.sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        };
        // Refresh well before expiry: a quarter of the lifetime early, at most 5 minutes early.
        let margin = (lifetime / 4).min(Duration::from_secs(300));
        *cached = Some(CachedToken {
            value: value.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
        });
        Ok(value)
    }

    /// A backoff: a wait on a known timer.
    async fn sleep(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let _wait = self.inner.settings.progress.waiting_until(until);
        tokio::time::sleep_until(until).await;
    }

    async fn drop_token(&self, rejected: &Secret) {
        let mut cached = self.inner.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == *rejected) {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<(Secret, Duration), FeishuError> {
        let s = &self.inner.settings;
        let body = json!({"app_id": s.app_id, "app_secret": s.app_secret.expose()});
        let env = self.post(TOKEN_PATH, None, &body, None).await?;
        let token = env
            .tenant_access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| FeishuError::Decode("token answer has no tenant_access_token".into()))?;
        let expire = env.expire.filter(|e| *e > 0).unwrap_or(7200);
        tracing::debug!(expire_s = expire, "fetched a tenant token");
        Ok((Secret::new(token), Duration::from_secs(expire as u64)))
    }
}

/// 00:00 on the first of the month after `now`'s, in Asia/Shanghai.
pub fn next_month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let tz = chrono_tz::Asia::Shanghai;
    let local = now.with_timezone(&tz);
    let (y, m) = if local.month() == 12 {
        (local.year() + 1, 1)
    } else {
        (local.year(), local.month() + 1)
    };
    tz.with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .earliest()
        .map_or(now, |t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_resets_on_the_first_in_shanghai() {
        let sh = chrono_tz::Asia::Shanghai;
        let at = |y, mo, d, h| {
            sh.with_ymd_and_hms(y, mo, d, h, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        // (case, now, the hold's end)
        let cases = [
            ("mid-month", at(2026, 11, 15, 12), at(2026, 12, 1, 0)),
            ("December", at(2026, 12, 31, 23), at(2027, 1, 1, 0)),
            ("the first itself", at(2026, 12, 1, 0), at(2027, 1, 1, 0)),
            // 20:00 UTC on Nov 30 is already Dec 1 in Shanghai.
            (
                "late UTC evening",
                Utc.with_ymd_and_hms(2026, 11, 30, 20, 0, 0).unwrap(),
                at(2027, 1, 1, 0),
            ),
        ];
        for (name, now, want) in cases {
            assert_eq!(next_month_start(now), want, "{name}");
        }
    }

    #[test]
    fn task_ids_are_escaped_in_the_path() {
        assert_eq!(
            expedite_path("123"),
            "/open-apis/apaas/v1/user_tasks/123/expediting"
        );
        assert_eq!(
            expedite_path("a/b c"),
            "/open-apis/apaas/v1/user_tasks/a%2Fb%20c/expediting"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for retry in 0..10 {
            let b = p.backoff(retry);
            let exp = p.base_backoff.saturating_mul(1 << retry).min(p.max_backoff);
            assert!(b >= exp / 2 && b <= exp, "retry {retry}: {b:?}");
        }
    }
}
