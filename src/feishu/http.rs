//! One HTTP exchange with Feishu, no retries: the answer is OK (code 0) or classified as an
//! error (see `error`); the caller's one call path decides what to retry.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::Value;
use tokio::time::Instant;

use super::{FeishuClient, FeishuError, JSON_UTF8, QUERY_PATH, error, wire};
use crate::secret::Secret;

/// A client builder with our user agent, TLS by rustls on ring. Every HTTP client the process
/// makes (Feishu's API, digest webhooks) starts here: reqwest is built without a crypto provider
/// of its own, so the process's default is installed first (once; later calls find it there).
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().user_agent(concat!("expediter/", env!("CARGO_PKG_VERSION")))
}

/// The most of an answer's body that is read. A listing page of 50 tasks is a few tens of KiB.
pub const MAX_BODY: usize = 8 << 20;

impl FeishuClient {
    /// One HTTP exchange, no retries: the response is OK (code 0) or classified as an error.
    /// A successful body that hashes to `known` is one read before: it is not parsed again.
    pub(super) async fn post(
        &self,
        path: &str,
        token: Option<&Secret>,
        body: &Value,
        known: Option<u64>,
    ) -> Result<wire::Answer, FeishuError> {
        let s = &self.inner.settings;
        let req = match (path, &self.inner.query_url) {
            // The listing's address, parsed once: it is asked for thousands of times a cycle.
            (QUERY_PATH, Some(url)) => self.inner.http.post(url.clone()),
            _ => self.inner.http.post(format!("{}{}", s.base_url, path)),
        };
        let mut req = req.header(CONTENT_TYPE, JSON_UTF8).body(body.to_string());
        if let Some(token) = token {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    FeishuError::Decode("the tenant token is not a valid header value".into())
                })?;
            value.set_sensitive(true);
            req = req.header(AUTHORIZATION, value);
        }
        // The exchange is bounded by the request timeout: a wait on a known timer.
        let exchange = self
            .inner
            .settings
            .progress
            .waiting_until(Instant::now() + s.request_timeout + Duration::from_secs(1));
        let resp = req.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let reset = resp
            .headers()
            .get("x-ogw-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(Duration::from_secs_f64);
        let bytes = self.read_capped(resp).await?;
        drop(exchange);
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        if status < 300 && known == Some(hash) {
            return Ok(wire::Answer::seen(bytes, hash));
        }
        let (code, msg) = match wire::Answer::read(bytes.clone(), hash) {
            Ok(answer) if status < 300 => return Ok(answer),
            Ok(_) => (Some(0), None),
            Err(read) => read,
        };
        // The monthly quota answer comes as a 429 too, but it is no rate limit: it says
        // nothing was done, and nothing will be until the month ends.
        if code == Some(error::QUOTA_CODE) {
            return Err(FeishuError::Api {
                code: error::QUOTA_CODE,
                msg: msg.unwrap_or_default(),
                http_status: status,
            });
        }
        if status == 429 || code == Some(error::RATE_LIMIT_CODE) {
            return Err(FeishuError::RateLimited {
                code: code.unwrap_or(error::RATE_LIMIT_CODE),
                reset: reset.unwrap_or(s.retry.default_reset),
            });
        }
        match code {
            Some(code) if code != 0 => Err(FeishuError::Api {
                code,
                msg: msg.unwrap_or_default(),
                http_status: status,
            }),
            _ if status >= 300 => Err(FeishuError::Http {
                status,
                body: snippet(&bytes),
            }),
            _ => Err(FeishuError::Decode(format!(
                "HTTP {status}, body is not Feishu JSON: {}",
                snippet(&bytes)
            ))),
        }
    }

    /// The answer's body, read up to [`MAX_BODY`]: past it the exchange failed (a listing page
    /// is far smaller; a call that acts may have been done, so it counts as unknown).
    async fn read_capped(&self, mut resp: reqwest::Response) -> Result<Bytes, FeishuError> {
        let too_large = || {
            FeishuError::Transport(format!(
                "the answer is larger than {} MiB; it was not read further",
                MAX_BODY >> 20
            ))
        };
        let announced = resp.content_length().unwrap_or(0);
        if announced > MAX_BODY as u64 {
            return Err(too_large());
        }
        let mut body = BytesMut::with_capacity(announced as usize);
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport_error(e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    /// A connect that never completed (refused, timed out while connecting, no address, a
    /// failed handshake) sent nothing, whatever timer ended it: it is asked first. Anything
    /// later may have been written.
    fn transport_error(&self, e: reqwest::Error) -> FeishuError {
        if e.is_connect() {
            FeishuError::Connect(root_cause(&e))
        } else if e.is_timeout() {
            FeishuError::Timeout(self.inner.settings.request_timeout)
        } else if e.is_body() || e.is_decode() {
            FeishuError::Decode(format!("truncated or broken body: {}", root_cause(&e)))
        } else {
            FeishuError::Transport(root_cause(&e))
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let cut = (0..=text.len().min(160))
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    if cut < text.len() {
        format!("{}…", &text[..cut])
    } else {
        text.to_owned()
    }
}
