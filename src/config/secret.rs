//! Where the app secret comes from, and reading it. The secret is read only by the commands
//! that call Feishu, so `plan` works for someone who may read the config but not the credential.

use std::fmt;
use std::path::{Path, PathBuf};

use super::SECRET_ENV;
use crate::secret::Secret;

/// Where the app secret comes from. It is read only by the commands that call Feishu, so
/// `plan` works for someone who may read the config but not the credential.
#[derive(Clone)]
pub enum SecretSource {
    Env,
    /// No key set: systemd's `LoadCredential=app_secret:…`, `$CREDENTIALS_DIRECTORY/app_secret`.
    Credential,
    Inline(Secret),
    File(PathBuf),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env => write!(f, "env {SECRET_ENV}"),
            SecretSource::Credential => write!(f, "systemd credential app_secret"),
            SecretSource::Inline(_) => write!(f, "inline app_secret"),
            SecretSource::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

impl SecretSource {
    pub fn describe(&self) -> String {
        format!("{self:?}")
    }

    /// Reads the secret. An unreadable or empty source is an error naming it.
    pub fn resolve(&self) -> Result<Secret, String> {
        match self {
            SecretSource::Env => match std::env::var(SECRET_ENV) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim().to_owned())),
                _ => Err(format!("{SECRET_ENV} is set but empty")),
            },
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::Credential => match std::env::var_os("CREDENTIALS_DIRECTORY") {
                Some(dir) => SecretSource::File(Path::new(&dir).join("app_secret")).resolve(),
                None => Err(format!(
                    "no app secret: set app_secret_file (or app_secret) in [feishu], the environment variable {SECRET_ENV}, or run under systemd with LoadCredential=app_secret:…"
                )),
            },
            SecretSource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read app_secret_file {}: {e}", path.display()))?;
                let text = text.trim();
                if text.is_empty() {
                    return Err(format!("app_secret_file {} is empty", path.display()));
                }
                Ok(Secret::new(text.to_owned()))
            }
        }
    }
}
