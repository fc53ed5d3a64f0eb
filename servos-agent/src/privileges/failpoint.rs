//! Fault injection for the self-check's test, compiled into debug builds only.
//!
//! `SERVOS_AGENT_FAILPOINT=skip-bounding-set` makes the drop leave the
//! bounding set as it is, so a test can show that the self-check refuses
//! to run with it. Release builds (`debug_assertions` off) contain no
//! failpoint: the variable is not even read.

/// The variable naming the failpoint to trigger.
pub const FAILPOINT_VAR: &str = "SERVOS_AGENT_FAILPOINT";

/// True when the test asked the drop to skip clearing the bounding set.
#[cfg(debug_assertions)]
pub fn skip_bounding_set() -> bool {
    std::env::var(FAILPOINT_VAR).is_ok_and(|value| value == "skip-bounding-set")
}

/// Release builds never skip a step.
#[cfg(not(debug_assertions))]
pub fn skip_bounding_set() -> bool {
    false
}
