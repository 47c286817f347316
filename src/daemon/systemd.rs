//! systemd: readiness, status, reloading and the watchdog, through sd_notify.

use sd_notify::NotifyState;

/// The watchdog interval systemd asks for, as sd_watchdog_enabled(3) reads it: `WATCHDOG_USEC`,
/// for this process when `WATCHDOG_PID` names it or is absent.
pub(super) fn watchdog_usec() -> Option<u64> {
    let usec = std::env::var("WATCHDOG_USEC")
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|u| *u > 0)?;
    match std::env::var("WATCHDOG_PID") {
        Ok(pid) if pid.trim().parse::<u32>().ok() != Some(std::process::id()) => None,
        _ => Some(usec),
    }
}

pub(super) fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!("sd_notify: {e}");
    }
}

pub(super) fn notify_reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}
