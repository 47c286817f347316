//! What went wrong with a request: one type, said as a page (see `views`) or as the API's JSON.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

/// What went wrong with a request, said to its sender without internals.
#[derive(Debug)]
pub(crate) enum Failure {
    BadRequest(String),
    /// 400 naming the field.
    BadField(std::borrow::Cow<'static, str>, String),
    NotFound(String),
    Unauthorized,
    Forbidden(String),
    TooMany,
    /// The database did not answer (the log says why).
    Unavailable,
    Internal,
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        tracing::warn!("console: {e}");
        Failure::Unavailable
    }
}

impl Failure {
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::BadRequest(_) | Failure::BadField(..) => StatusCode::BAD_REQUEST,
            Failure::NotFound(_) => StatusCode::NOT_FOUND,
            Failure::Unauthorized => StatusCode::UNAUTHORIZED,
            Failure::Forbidden(_) => StatusCode::FORBIDDEN,
            Failure::TooMany => StatusCode::TOO_MANY_REQUESTS,
            Failure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Failure::BadRequest(m) | Failure::NotFound(m) | Failure::Forbidden(m) => m.clone(),
            Failure::BadField(_, m) => m.clone(),
            Failure::Unauthorized => "sign in first: a session cookie from /login, or Authorization: Bearer with the console's token".into(),
            Failure::TooMany => "too many sign-in attempts from this address; wait a minute".into(),
            Failure::Unavailable => "the database did not answer; the daemon's log says why".into(),
            Failure::Internal => "something went wrong inside; the daemon's log says what".into(),
        }
    }

    /// As the API's JSON: `{"error": …, "field"?: …}`.
    pub fn api(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message() });
        if let Failure::BadField(field, _) = &self {
            body["field"] = serde_json::Value::from(field.as_ref());
        }
        (self.status(), Json(body)).into_response()
    }
}
