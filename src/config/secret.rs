//! Where a secret comes from — the app secret, a digest's webhook URL or signing secret — and
//! reading it. Secrets are read only by the commands that use them, so `plan` works for someone
//! who may read the config but not the credentials.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::secret::Secret;

/// Where one secret comes from. `key` is its config key (`app_secret`,
/// `digests[0].webhook_url`), `var` the environment variable that overrides the file.
#[derive(Clone)]
pub enum SecretSource {
    Env {
        var: String,
    },
    /// No key set: systemd's `LoadCredential=NAME:…`, read from `$CREDENTIALS_DIRECTORY/NAME`.
    Credential {
        key: String,
        name: String,
        var: String,
    },
    Inline {
        key: String,
        value: Secret,
    },
    File {
        key: String,
        path: PathBuf,
    },
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env { var } => write!(f, "env {var}"),
            SecretSource::Credential { name, .. } => write!(f, "systemd credential {name}"),
            SecretSource::Inline { key, .. } => write!(f, "inline {key}"),
            SecretSource::File { path, .. } => write!(f, "file {}", path.display()),
        }
    }
}

impl SecretSource {
    pub fn describe(&self) -> String {
        format!("{self:?}")
    }

    /// The file the secret is read from, when it is one (for the permission check).
    pub fn file(&self) -> Option<PathBuf> {
        match self {
            SecretSource::File { path, .. } => Some(path.clone()),
            SecretSource::Credential { name, .. } => {
                std::env::var_os("CREDENTIALS_DIRECTORY").map(|dir| Path::new(&dir).join(name))
            }
            _ => None,
        }
    }

    pub fn is_inline(&self) -> bool {
        matches!(self, SecretSource::Inline { .. })
    }

    /// Reads the secret. An unreadable or empty source is an error naming it.
    pub fn resolve(&self) -> Result<Secret, String> {
        match self {
            SecretSource::Env { var } => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim().to_owned())),
                _ => Err(format!("{var} is set but empty")),
            },
            SecretSource::Inline { value, .. } => Ok(value.clone()),
            SecretSource::Credential { key, name, var } => {
                match std::env::var_os("CREDENTIALS_DIRECTORY") {
                    Some(dir) => SecretSource::File {
                        key: key.clone(),
                        path: Path::new(&dir).join(name),
                    }
                    .resolve(),
                    None => Err(format!(
                        "no {}: set {key}_file (or {key}) in the config, the environment variable {var}, or run under systemd with LoadCredential={name}:…",
                        key.rsplit('.').next().unwrap_or(key).replace('_', " ")
                    )),
                }
            }
            SecretSource::File { key, path } => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {key}_file {}: {e}", path.display()))?;
                let text = text.trim();
                if text.is_empty() {
                    return Err(format!("{key}_file {} is empty", path.display()));
                }
                Ok(Secret::new(text.to_owned()))
            }
        }
    }
}

/// The environment variable that overrides a digest's secret: `EXPEDITER_DIGEST_<NAME>_<WHAT>`,
/// the name upper-cased with anything but letters and digits as `_`.
pub fn digest_env_var(digest: &str, what: &str) -> String {
    let name: String = digest
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("EXPEDITER_DIGEST_{name}_{what}")
}
