//! What the integration tests share: root checks, namespaces, agent processes, state fixtures and the classifier seen from outside.

pub mod agent;
pub mod classifier;
pub mod netns;
pub mod state;

use std::time::{Duration, Instant};

/// Fails the test at once, saying why, when it does not run as root.
pub fn require_root(what: &str) {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "{what} needs root (network namespaces, the privilege drop); run the tests as root"
    );
}

/// Fails the test at once when `program` is not installed, naming its Debian package.
pub fn require_program(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    assert!(
        found,
        "this test needs {program}: install the Debian package {package}"
    );
}

/// Polls `condition` every 50 ms until it returns `Some`, or fails naming `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut condition: impl FnMut() -> Option<T>) -> T {
    wait_until(what, timeout, || condition().ok_or_else(String::new))
}

/// Polls `condition` every 50 ms until it returns `Ok`, or fails after
/// `timeout` naming `what` and the last `Err` (what was seen instead).
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = match condition() {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last seen: {seen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A name no other test (in this run or a parallel one) uses: prefix, process id, counter.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}n{}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
