//! The Feishu open API client: tenant token, task listing, expediting. Every call goes through
//! one path that paces it, checks `code`, refreshes the token and retries what may be retried.

mod acting;
pub mod error;
mod http;
mod quota;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

pub use crate::api_stats::{Stats, StatsSnapshot};
use crate::domain::CallKind;
pub use crate::pace::RetryPolicy;
pub use acting::{Act, Fence, Slot};
pub use error::{ErrorClass, FeishuError};
pub use http::client_builder;
pub use wire::{Entry, ListedTask, Page, RawPage};

use crate::clock::Clock;
use crate::pace::Pacer;
use crate::progress::Progress;
use crate::prometheus;
use crate::secret::Secret;

pub const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
pub const QUERY_PATH: &str = "/open-apis/apaas/v1/user_task/query";
pub const PAGE_SIZE: u64 = 50;
/// Feishu accepts at most this many user ids per expediting call.
pub const MAX_EXPEDITE_IDS: usize = 20;
const JSON_UTF8: &str = "application/json; charset=utf-8";

/// The rate-limited APIs; each has its own budget (`requests_per_minute` each): the listing,
/// and one per kind of call that acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Query,
    Acts(CallKind),
}

impl Api {
    /// The listing, then every kind of call that acts.
    pub const COUNT: usize = crate::api_stats::APIS;
    pub const ALL: [Api; Api::COUNT] = {
        let mut all = [Api::Query; Api::COUNT];
        let mut i = 0;
        while i < CallKind::COUNT {
            all[1 + i] = Api::Acts(CallKind::ALL[i]);
            i += 1;
        }
        all
    };

    pub fn name(self) -> &'static str {
        match self {
            Api::Query => "user_task.query",
            Api::Acts(kind) => kind.api_name(),
        }
    }

    /// Does a call change something on the platform? Such a call is never repeated after an
    /// answer that may mean it was done (see [`FeishuError::outcome_unknown`]).
    pub fn acts(self) -> bool {
        matches!(self, Api::Acts(_))
    }

    pub const fn index(self) -> usize {
        match self {
            Api::Query => 0,
            Api::Acts(kind) => 1 + kind.index(),
        }
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

struct CachedToken {
    value: Secret,
    refresh_at: Instant,
}

/// How long connecting may take: its own budget, half the request's (at most 5 s), so that a
/// connection that never opens (a firewall dropping packets) fails as a connect — proof that
/// nothing was sent — before the request's own timer, which cannot tell what was written.
pub fn connect_budget(request_timeout: Duration) -> Duration {
    (request_timeout / 2).min(Duration::from_secs(5))
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
    pacers: [Pacer; Api::COUNT],
    stats: Stats,
    /// The listing's address, parsed once.
    query_url: Option<reqwest::Url>,
    /// Until when counted calls are held back: the tenant's monthly quota is used up.
    quota_hold: quota::QuotaHold,
}

impl FeishuClient {
    pub fn new(settings: ClientSettings) -> Result<Self, FeishuError> {
        let http = http::client_builder()
            .timeout(settings.request_timeout)
            .connect_timeout(connect_budget(settings.request_timeout))
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
                quota_hold: quota::QuotaHold::default(),
            }),
        })
    }

    pub fn stats(&self) -> StatsSnapshot {
        let s = &self.inner.stats;
        StatsSnapshot {
            calls: Api::ALL.map(|api| s.calls[api.index()].load(Ordering::Relaxed)),
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

    /// One call of the app's bot (`im/v1/messages`): the tenant token, none of the rate-limited
    /// APIs' pacers (the bot's messages pace themselves), no retry (a message may have gone).
    /// The answer's `data` as JSON.
    pub async fn bot_call(&self, path: &str, body: &Value) -> Result<Value, FeishuError> {
        let token = self
            .token()
            .await
            .map_err(|e| FeishuError::NoToken(Box::new(e)))?;
        let answer = self.post(path, Some(&token), body, None).await?;
        Ok(serde_json::from_slice(&answer.data()).unwrap_or(Value::Null))
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

#[cfg(test)]
mod tests {
    use super::*;

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
