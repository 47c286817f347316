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
    /// No key set: systemd's `LoadCredential=NAME:…`, read from `$CREDENTIALS_DIRECTORY/NAME`;
    /// outside systemd (`check`, `once --dry-run` by hand) from `beside`, the file of that name
    /// beside the config, which is where the unit's `LoadCredential=` line takes it from.
    Credential {
        key: String,
        name: String,
        var: String,
        beside: PathBuf,
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
            // Under systemd it is the unit's credential; run by hand, the file beside the config.
            SecretSource::Credential { name, beside, .. } => {
                match std::env::var_os("CREDENTIALS_DIRECTORY") {
                    Some(_) => write!(f, "systemd credential {name}"),
                    None => write!(
                        f,
                        "file {} (the service's systemd credential {name})",
                        beside.display()
                    ),
                }
            }
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
            SecretSource::Credential { name, beside, .. } => Some(
                std::env::var_os("CREDENTIALS_DIRECTORY")
                    .map_or_else(|| beside.clone(), |dir| Path::new(&dir).join(name)),
            ),
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
            SecretSource::Credential {
                key,
                name,
                var,
                beside,
            } => match std::env::var_os("CREDENTIALS_DIRECTORY") {
                Some(dir) => SecretSource::File {
                    key: key.clone(),
                    path: Path::new(&dir).join(name),
                }
                .resolve(),
                None => match std::fs::read_to_string(beside) {
                    Ok(text) if !text.trim().is_empty() => Ok(Secret::new(text.trim().to_owned())),
                    Ok(_) => Err(format!(
                        "{} is empty: write the {} into it (the unit hands it to the service with LoadCredential={name}:{})",
                        beside.display(),
                        what(key),
                        beside.display()
                    )),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                        "no {}: {} does not exist. Put it there, root-only, and hand it to the service with LoadCredential={name}:{} (in the unit, or a drop-in for a digest's: deploy/README.md); or set {key}_file to another file, {key} in the config, or the environment variable {var}",
                        what(key),
                        beside.display(),
                        beside.display()
                    )),
                    Err(e) => Err(format!(
                        "cannot read the {} from {}: {e} (it is root-only: run this command with sudo)",
                        what(key),
                        beside.display()
                    )),
                },
            },
            SecretSource::File { key, path } => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                        " (a root-only file: run this command with sudo)"
                    } else {
                        ""
                    };
                    format!("cannot read {key}_file {}: {e}{hint}", path.display())
                })?;
                let text = text.trim();
                if text.is_empty() {
                    return Err(format!("{key}_file {} is empty", path.display()));
                }
                Ok(Secret::new(text.to_owned()))
            }
        }
    }
}

/// `app_secret` → "app secret", `digests[0].webhook_url` → "webhook url".
fn what(key: &str) -> String {
    match key.rsplit('.').next().unwrap_or(key) {
        "webhook_url" => "webhook URL".to_owned(),
        "sign_secret" => "signing secret".to_owned(),
        other => other.replace('_', " "),
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
