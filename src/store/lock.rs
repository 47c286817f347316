//! One acting instance per SQLite database: `run` and `once` hold an exclusive lock on a file
//! beside it (`<database>.lock`, flock) for as long as they run. A second one is refused,
//! naming the process that holds it; read-only commands never take it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// The held lock; released when the last clone of the store holding it is dropped (or the
/// process ends, whatever way).
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

/// The lock file of the database at `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl InstanceLock {
    /// Takes the lock of the database at `db`, or says who holds it.
    pub fn take(db: &Path) -> Result<InstanceLock, StoreError> {
        let path = lock_path(db);
        let open_err = |message: String| StoreError::Open {
            db: db.display().to_string(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create directory {}: {e}", dir.display())))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| open_err(format!("cannot open the lock file {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another expediter process".to_owned()
                } else {
                    format!("another expediter process ({holder})")
                };
                return Err(open_err(format!(
                    "{who} is already running `run` or `once` on this database (it holds {}); one instance at a time — stop it first, or use `plan`, `report` or `silence` alongside it",
                    path.display()
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(open_err(format!("cannot lock {}: {e}", path.display())));
            }
        }
        // Who holds it, for the one refused.
        let me = format!("pid {}", std::process::id());
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| file.write_all(me.as_bytes()))
            .and_then(|()| file.flush());
        Ok(InstanceLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_goes() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state/expediter.db");
        let first = InstanceLock::take(&db).unwrap();
        let refused = InstanceLock::take(&db).unwrap_err().to_string();
        assert!(
            refused.contains(&format!("pid {}", std::process::id()))
                && refused.contains("expediter.db.lock"),
            "{refused}"
        );
        drop(first);
        InstanceLock::take(&db).unwrap();
    }
}
