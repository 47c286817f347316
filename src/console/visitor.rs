//! Who is asking, once signed in.

use super::error::Failure;
use super::tokens::same;

/// Someone signed in: by a session (with its CSRF token) or by the token as Bearer.
#[derive(Clone, Debug)]
pub(crate) struct Visitor {
    /// For the record: "Name (open_id)", "token", "cli:<user>".
    pub who: String,
    /// The session's CSRF token; `None` for Bearer (no cookie, nothing to forge).
    pub csrf: Option<String>,
    pub(super) session: Option<String>,
    /// The address the request came from (as `trusted_proxies` lets it be told).
    pub address: Option<String>,
    /// What they are, under the config in force at this request.
    pub role: super::roles::Role,
    /// The language the pages speak to them.
    pub lang: crate::i18n::Lang,
}

impl Visitor {
    /// What this request may see and do.
    pub(crate) fn scope(&self, config: &crate::config::Config) -> super::roles::Scope {
        self.role.scope(config)
    }
}

impl Visitor {
    /// A write from a form or a cookie-authenticated API call carries the session's token.
    pub fn check_csrf(&self, given: Option<&str>) -> Result<(), Failure> {
        match &self.csrf {
            None => Ok(()),
            Some(expected) if given.is_some_and(|g| same(g, expected)) => Ok(()),
            Some(_) => Err(Failure::Forbidden(
                "the form is stale or was not sent from the console (CSRF token missing or wrong); reload the page and try again".into(),
            )),
        }
    }
}
