//! What can go wrong talking to Feishu, and what each failure means for a retry.

use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Clone, Error)]
pub enum FeishuError {
    /// Feishu answered with a non-zero `code`.
    #[error("Feishu code {code}: {msg}{}", advice(*code).map(|a| format!(" — {a}")).unwrap_or_default())]
    Api {
        code: i64,
        msg: String,
        http_status: u16,
    },
    /// An HTTP error status without a readable Feishu body.
    #[error("HTTP {status} from Feishu{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Http { status: u16, body: String },
    /// HTTP 429 or code 99991400: wait `reset`, then retry.
    #[error("rate limited by Feishu (code {code}); limit resets in {reset:?}")]
    RateLimited { code: i64, reset: Duration },
    #[error("no answer within {0:?} (request_timeout)")]
    Timeout(Duration),
    /// The connection could not be made: the request never left.
    #[error("cannot reach Feishu: {0}")]
    Connect(String),
    /// The request was sent, then the exchange broke (reset, truncated answer).
    #[error("the exchange with Feishu broke: {0}")]
    Transport(String),
    /// The response could not be read as Feishu JSON.
    #[error("unreadable response: {0}")]
    Decode(String),
    /// No tenant token could be had for the call, so the call itself never left.
    #[error("no tenant token (so nothing was sent): {0}")]
    NoToken(Box<FeishuError>),
    /// The tenant's monthly API quota was used up (99991403): counted calls are held back,
    /// unsent, until then.
    #[error(
        "held back until {until} (Asia/Shanghai), when the tenant's monthly API quota resets (code 99991403); not sent"
    )]
    QuotaHeld { until: String },
    /// The call that acts was held back because this instance is no longer the active one
    /// (its lease ran out by its own clock, or another instance took over); not sent.
    #[error("not sent: this instance is no longer the active one (its lease does not hold)")]
    NotActive,
}

/// How the retry loop treats an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The token was refused: fetch a new one and retry once.
    Token,
    RateLimited,
    /// Worth retrying with backoff.
    Transient,
    /// Retrying cannot help.
    Final,
}

pub const TOKEN_CODES: &[i64] = &[99991663, 99991661, 99991665, 99991671];
pub const TRANSIENT_CODES: &[i64] = &[1500, 5000, 10101, 2200];
pub const RATE_LIMIT_CODE: i64 = 99991400;
/// The tenant's monthly API quota is used up: not a rate limit, and not worth retrying before
/// the month ends.
pub const QUOTA_CODE: i64 = 99991403;

impl FeishuError {
    pub fn class(&self) -> ErrorClass {
        match self {
            FeishuError::Api { code, .. } if TOKEN_CODES.contains(code) => ErrorClass::Token,
            FeishuError::Api { code, .. } if TRANSIENT_CODES.contains(code) => {
                ErrorClass::Transient
            }
            FeishuError::Api {
                http_status, code, ..
            } if *http_status >= 500 && !is_final_code(*code) => ErrorClass::Transient,
            FeishuError::Api { .. } => ErrorClass::Final,
            FeishuError::Http { status, .. } if *status >= 500 => ErrorClass::Transient,
            // A request timeout or a closed request, said by a gateway: the call may have
            // reached the platform.
            FeishuError::Http {
                status: 408 | 499, ..
            } => ErrorClass::Transient,
            FeishuError::Http { .. } => ErrorClass::Final,
            FeishuError::RateLimited { .. } => ErrorClass::RateLimited,
            FeishuError::Timeout(_)
            | FeishuError::Connect(_)
            | FeishuError::Transport(_)
            | FeishuError::Decode(_) => ErrorClass::Transient,
            FeishuError::NoToken(cause) => cause.class(),
            FeishuError::QuotaHeld { .. } | FeishuError::NotActive => ErrorClass::Final,
        }
    }

    pub fn code(&self) -> Option<i64> {
        match self {
            FeishuError::Api { code, .. } | FeishuError::RateLimited { code, .. } => Some(*code),
            FeishuError::NoToken(cause) => cause.code(),
            FeishuError::QuotaHeld { .. } => Some(QUOTA_CODE),
            _ => None,
        }
    }

    pub fn msg(&self) -> String {
        match self {
            FeishuError::Api { msg, .. } => msg.clone(),
            FeishuError::NoToken(cause) => format!("no tenant token: {}", cause.msg()),
            other => other.to_string(),
        }
    }

    /// An error every further call would hit too: wrong credentials, a missing scope, no quota.
    pub fn stops_cycle(&self) -> bool {
        matches!(
            self.code(),
            Some(10003 | 10014 | 10015 | 99991672 | 99991403)
        )
    }

    /// For a call that acts (expediting, cc, chat_group): could the platform have acted even
    /// though the answer does not say so? A timeout, an exchange broken after the request left,
    /// any 5xx (a gateway may fail the answer after the platform acted), a transient code or an
    /// unreadable body prove nothing either way; repeating such a call could remind people
    /// twice. Only answers that prove nothing happened may be retried: a rate limit, a refused
    /// token, a connection that never opened, no token to be had (the call never left).
    pub fn outcome_unknown(&self) -> bool {
        self.class() == ErrorClass::Transient && self.may_have_left()
    }

    /// Could the request have reached the platform? Not when the connection was refused, nor
    /// when no token could be had for it.
    pub fn may_have_left(&self) -> bool {
        !matches!(
            self,
            FeishuError::Connect(_)
                | FeishuError::NoToken(_)
                | FeishuError::QuotaHeld { .. }
                | FeishuError::NotActive
        )
    }
}

fn is_final_code(code: i64) -> bool {
    advice(code).is_some()
}

/// What a lead should do about a final error code.
pub fn advice(code: i64) -> Option<&'static str> {
    Some(match code {
        10003 => "invalid parameter when fetching the token: check [feishu] app_id",
        10014 => {
            "the app is unavailable or its secret is invalid: check the app is enabled and the app secret is current"
        }
        10015 => "wrong app secret: fix app_secret_file, app_secret or EXPEDITER_APP_SECRET",
        99991672 => {
            "the app lacks a permission scope: grant app_engine:approval:read (listing) and app_engine:approval:write (expediting) in the developer console, then publish a new app version"
        }
        99991403 => {
            "the tenant's monthly API quota is used up: nothing can be listed or expedited until it resets or is raised"
        }
        2320001 => "param is invalid: a user id is wrong or the task is no longer pending for them",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let api = |code, http_status| FeishuError::Api {
            code,
            msg: "m".into(),
            http_status,
        };
        let cases = [
            (api(99991663, 400), ErrorClass::Token),
            (api(99991661, 400), ErrorClass::Token),
            (api(99991665, 400), ErrorClass::Token),
            (api(99991671, 400), ErrorClass::Token),
            (api(1500, 200), ErrorClass::Transient),
            (api(5000, 200), ErrorClass::Transient),
            (api(10101, 200), ErrorClass::Transient),
            (api(2200, 200), ErrorClass::Transient),
            (api(2320001, 400), ErrorClass::Final),
            (api(99991672, 403), ErrorClass::Final),
            (api(99991403, 403), ErrorClass::Final),
            (api(10014, 400), ErrorClass::Final),
            (api(10015, 400), ErrorClass::Final),
            (api(10003, 400), ErrorClass::Final),
            (api(77, 503), ErrorClass::Transient),
            (
                FeishuError::Http {
                    status: 502,
                    body: String::new(),
                },
                ErrorClass::Transient,
            ),
            (
                FeishuError::Http {
                    status: 404,
                    body: String::new(),
                },
                ErrorClass::Final,
            ),
            (
                FeishuError::RateLimited {
                    code: RATE_LIMIT_CODE,
                    reset: Duration::from_secs(1),
                },
                ErrorClass::RateLimited,
            ),
            (
                FeishuError::Timeout(Duration::from_secs(1)),
                ErrorClass::Transient,
            ),
            (FeishuError::Decode("x".into()), ErrorClass::Transient),
            (FeishuError::Connect("x".into()), ErrorClass::Transient),
        ];
        for (err, class) in cases {
            assert_eq!(err.class(), class, "{err}");
        }
    }

    #[test]
    fn ambiguous_answers_table() {
        // (error, may the platform have acted?)
        let cases = [
            (FeishuError::Timeout(Duration::from_secs(1)), true),
            (FeishuError::Transport("reset".into()), true),
            (FeishuError::Decode("<html>".into()), true),
            (
                FeishuError::Http {
                    status: 504,
                    body: "<html>504 Gateway Time-out</html>".into(),
                },
                true,
            ),
            (
                FeishuError::Api {
                    code: 1500,
                    msg: "internal error".into(),
                    http_status: 500,
                },
                true,
            ),
            (
                FeishuError::Api {
                    code: 5000,
                    msg: "internal error".into(),
                    http_status: 200,
                },
                true,
            ),
            (FeishuError::Connect("refused".into()), false),
            (
                FeishuError::Http {
                    status: 408,
                    body: String::new(),
                },
                true,
            ),
            (
                FeishuError::Http {
                    status: 499,
                    body: String::new(),
                },
                true,
            ),
            // No token: the call never left, whatever the token endpoint answered.
            (
                FeishuError::NoToken(Box::new(FeishuError::Http {
                    status: 503,
                    body: String::new(),
                })),
                false,
            ),
            (
                FeishuError::NoToken(Box::new(FeishuError::Timeout(Duration::from_secs(1)))),
                false,
            ),
            (
                FeishuError::RateLimited {
                    code: RATE_LIMIT_CODE,
                    reset: Duration::from_secs(1),
                },
                false,
            ),
            (
                FeishuError::Api {
                    code: 99991663,
                    msg: "token".into(),
                    http_status: 400,
                },
                false,
            ),
            (
                FeishuError::Api {
                    code: 2320001,
                    msg: "param is invalid".into(),
                    http_status: 400,
                },
                false,
            ),
            (
                FeishuError::Http {
                    status: 404,
                    body: String::new(),
                },
                false,
            ),
        ];
        for (err, unknown) in cases {
            assert_eq!(err.outcome_unknown(), unknown, "{err}");
        }
    }

    #[test]
    fn final_errors_say_what_to_do() {
        let e = FeishuError::Api {
            code: 99991672,
            msg: "scope".into(),
            http_status: 403,
        };
        assert!(e.to_string().contains("app_engine:approval:read"));
        let e = FeishuError::Api {
            code: 10015,
            msg: "bad secret".into(),
            http_status: 400,
        };
        assert!(e.to_string().contains("app_secret_file"));
    }
}
