//! A test hook for crash-safety tests: with `SERVOS_FAILPOINT=<name>:<n>`,
//! the n-th time the process passes the point `name` it aborts at once, as
//! a SIGKILL would. Unset (always, in production) it does nothing.

use std::sync::atomic::{AtomicU64, Ordering};

/// Environment variable naming the failpoint.
pub const FAILPOINT_VAR: &str = "SERVOS_FAILPOINT";

static HITS: AtomicU64 = AtomicU64::new(0);

/// Passes the point `name`.
pub fn hit(name: &str) {
    let Ok(spec) = std::env::var(FAILPOINT_VAR) else {
        return;
    };
    let Some((point, count)) = spec.split_once(':') else {
        return;
    };
    if point != name {
        return;
    }
    let hits = HITS.fetch_add(1, Ordering::SeqCst) + 1;
    if count.parse::<u64>().is_ok_and(|n| hits >= n) {
        eprintln!("servos-api: failpoint {name} reached after {hits} passes; aborting");
        std::process::abort();
    }
}
