//! Failpoints: places where a test makes the process fail on purpose.
//!
//! - Crashes of the real binary: with `SERVOS_FAILPOINT=<name>:<n>`, the
//!   n-th time the process passes the point `name` it aborts at once, as a
//!   SIGKILL would ([`crash_point`]).
//! - Panics inside a process: a test arms [`Failpoints`] in the state it
//!   built, and the next passes of a point panic ([`Failpoints::pass`]).
//!
//! Unset (always, in production) neither does anything.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Environment variable naming the crash failpoint.
pub const FAILPOINT_VAR: &str = "SERVOS_FAILPOINT";

static HITS: AtomicU64 = AtomicU64::new(0);

/// Passes the crash point `name`.
pub fn crash_point(name: &str) {
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

/// Panic points armed by a test: each holds how many more passes panic.
#[derive(Debug, Default)]
pub struct Failpoints(Mutex<HashMap<&'static str, u32>>);

impl Failpoints {
    /// Makes the next `times` passes of `point` panic.
    pub fn arm(&self, point: &'static str, times: u32) {
        self.lock().insert(point, times);
    }

    /// Passes `point`: panics if a test armed it and passes remain.
    pub fn pass(&self, point: &str) {
        let fire = match self.lock().get_mut(point) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        };
        if fire {
            panic!("failpoint {point}");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, u32>> {
        // Each change is one call; a panic elsewhere leaves the map whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::Failpoints;

    #[test]
    fn armed_points_panic_as_many_times_as_asked() {
        let points = Failpoints::default();
        points.pass("deploy.target");
        points.arm("deploy.target", 1);
        assert!(std::panic::catch_unwind(|| points.pass("deploy.target")).is_err());
        points.pass("deploy.target");
        points.pass("other");
    }
}
