//! Limits kept in memory per API process: sliding-window rates (every
//! request per client IP, logins, failed authentications) and the
//! connections each client address holds open at once.
//!
//! Each rate key has two fixed windows; the estimate weights the previous
//! one by how much of it still overlaps the sliding window (constant memory
//! per key). IPv6 clients are keyed by their /64, which one host usually owns.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Rate;
use crate::error::ServiceError;

/// Most keys tracked per limit before stale ones are pruned.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Counter {
    window_start: Instant,
    previous: u32,
    current: u32,
}

/// One limit: at most `limit` events per `window` per key.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: u32,
    window: Duration,
    counters: Mutex<HashMap<String, Counter>>,
}

impl SlidingWindow {
    /// A limit of `limit` events per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window: window.max(Duration::from_secs(1)),
            counters: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses when the key is at its limit; otherwise counts one event.
    pub fn check_and_record(&self, key: &str) -> Result<(), ServiceError> {
        self.with_counter(key, |c, elapsed, limit, window| {
            if estimate(c, elapsed, window) + 1.0 > f64::from(limit) {
                return Err(too_many(c, elapsed, limit, window));
            }
            c.current = c.current.saturating_add(1);
            Ok(())
        })
    }

    /// Refuses when the key is at its limit, without counting.
    pub fn check(&self, key: &str) -> Result<(), ServiceError> {
        self.with_counter(key, |c, elapsed, limit, window| {
            if estimate(c, elapsed, window) >= f64::from(limit) {
                return Err(too_many(c, elapsed, limit, window));
            }
            Ok(())
        })
    }

    /// Counts one event.
    pub fn record(&self, key: &str) {
        let _ = self.with_counter(key, |c, _, _, _| {
            c.current = c.current.saturating_add(1);
            Ok(())
        });
    }

    fn with_counter(
        &self,
        key: &str,
        f: impl FnOnce(&mut Counter, Duration, u32, Duration) -> Result<(), ServiceError>,
    ) -> Result<(), ServiceError> {
        let now = Instant::now();
        let key = normalize(key);
        let mut counters = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if counters.len() >= MAX_KEYS && !counters.contains_key(&key) {
            let stale = 2 * self.window;
            counters.retain(|_, c| now.duration_since(c.window_start) < stale);
            if counters.len() >= MAX_KEYS {
                tracing::warn!(keys = counters.len(), "rate limiter full; resetting it");
                counters.clear();
            }
        }
        let counter = counters.entry(key).or_insert(Counter {
            window_start: now,
            previous: 0,
            current: 0,
        });
        let mut elapsed = now.duration_since(counter.window_start);
        if elapsed >= self.window {
            let previous = if elapsed >= 2 * self.window {
                0
            } else {
                counter.current
            };
            let skipped = (elapsed.as_nanos() / self.window.as_nanos()) as u32;
            counter.window_start += self.window * skipped;
            counter.previous = previous;
            counter.current = 0;
            elapsed = now.duration_since(counter.window_start);
        }
        f(counter, elapsed, self.limit, self.window)
    }
}

fn estimate(c: &Counter, elapsed: Duration, window: Duration) -> f64 {
    let overlap = 1.0 - elapsed.as_secs_f64() / window.as_secs_f64();
    f64::from(c.previous) * overlap.max(0.0) + f64::from(c.current)
}

/// Seconds until the estimate falls below the limit again (at least 1).
fn too_many(c: &Counter, elapsed: Duration, limit: u32, window: Duration) -> ServiceError {
    let w = window.as_secs_f64();
    let e = elapsed.as_secs_f64();
    let wait = if c.current >= limit {
        (w - e) + w * (1.0 - f64::from(limit) / f64::from(c.current.max(1)))
    } else if c.previous > 0 {
        w * (1.0 - f64::from(limit - c.current) / f64::from(c.previous)) - e
    } else {
        w - e
    };
    ServiceError::TooManyRequests {
        retry_after: wait.ceil().max(1.0) as u64,
    }
}

/// Connections open per client address, against a cap. Unlike a rate, a
/// count goes down again: each connection holds a [`ConnectionSlot`] that
/// uncounts it when dropped.
#[derive(Debug)]
pub struct ConnectionCounts {
    cap: u32,
    open: Arc<Mutex<HashMap<String, u32>>>,
}

impl ConnectionCounts {
    /// Counts against `cap` connections per client address.
    pub fn new(cap: u32) -> Self {
        Self {
            cap: cap.max(1),
            open: Arc::default(),
        }
    }

    /// Counts one more connection of `client` for as long as the slot
    /// lives; the slot tells whether it is within the cap.
    pub fn open(&self, client: &str) -> ConnectionSlot {
        let key = normalize(client);
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(key.clone()).or_insert(0);
        *count = count.saturating_add(1);
        ConnectionSlot {
            within_cap: *count <= self.cap,
            key,
            open: Arc::clone(&self.open),
        }
    }

    /// How many connections `client` holds open now.
    pub fn count(&self, client: &str) -> u32 {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&normalize(client))
            .copied()
            .unwrap_or(0)
    }
}

/// One counted connection (or proxied request); dropping it uncounts it.
#[derive(Debug)]
pub struct ConnectionSlot {
    key: String,
    within_cap: bool,
    open: Arc<Mutex<HashMap<String, u32>>>,
}

impl ConnectionSlot {
    /// False when the client already held as many connections as allowed.
    pub fn within_cap(&self) -> bool {
        self.within_cap
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// IPv4 addresses as they are; IPv6 addresses by their /64 prefix.
fn normalize(key: &str) -> String {
    match key.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map(|v4| v4.to_string())
            .unwrap_or_default(),
        _ => key.to_owned(),
    }
}

/// Every limit the API enforces.
#[derive(Debug)]
pub struct Limits {
    /// All requests per client IP.
    pub requests_per_ip: SlidingWindow,
    /// Login attempts per client IP (tighter than the general limit).
    pub login_per_ip: SlidingWindow,
    /// Failed logins per account.
    pub login_failures_per_account: SlidingWindow,
    /// Failed authentications (bad password, token, setup token) per IP.
    pub auth_failures: SlidingWindow,
    /// Connections open per client IP.
    pub connections: ConnectionCounts,
}

impl Limits {
    /// The limits: `requests` per client IP, `auth_failures` per client IP,
    /// `connections` open per client IP, and fixed limits on logins.
    pub fn new(requests: Rate, auth_failures: Rate, connections: u32) -> Self {
        let minute = Duration::from_secs(60);
        Self {
            requests_per_ip: SlidingWindow::new(requests.requests, requests.window()),
            login_per_ip: SlidingWindow::new(60, minute),
            login_failures_per_account: SlidingWindow::new(10, minute),
            auth_failures: SlidingWindow::new(auth_failures.requests, auth_failures.window()),
            connections: ConnectionCounts::new(connections),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_limit_then_refuses_with_retry_after() {
        let limit = SlidingWindow::new(3, Duration::from_secs(30));
        for _ in 0..3 {
            assert!(limit.check_and_record("1.2.3.4").is_ok());
        }
        match limit.check_and_record("1.2.3.4") {
            Err(ServiceError::TooManyRequests { retry_after }) => {
                assert!((1..=30).contains(&retry_after), "{retry_after}");
            }
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(
            limit.check_and_record("1.2.3.5").is_ok(),
            "other IP unaffected"
        );
    }

    #[test]
    fn check_does_not_count() {
        let limit = SlidingWindow::new(1, Duration::from_secs(30));
        assert!(limit.check("k").is_ok());
        assert!(limit.check("k").is_ok());
        limit.record("k");
        assert!(limit.check("k").is_err());
    }

    #[test]
    fn connections_are_counted_while_their_slots_live() {
        let counts = ConnectionCounts::new(2);
        let first = counts.open("10.0.0.1");
        let second = counts.open("10.0.0.1");
        let third = counts.open("10.0.0.1");
        assert!(first.within_cap() && second.within_cap());
        assert!(!third.within_cap(), "the third is beyond a cap of 2");
        assert!(counts.open("10.0.0.2").within_cap(), "other IP unaffected");
        let v6 = counts.open("2001:db8::1");
        assert_eq!(counts.count("2001:db8::2"), 1, "IPv6 by its /64");
        drop(v6);
        drop(third);
        drop(first);
        assert_eq!(counts.count("10.0.0.1"), 1);
        assert!(
            counts.open("10.0.0.1").within_cap(),
            "a closed one frees its place"
        );
        drop(second);
        assert_eq!(counts.count("10.0.0.1"), 0);
        assert!(
            counts.open.lock().is_ok_and(|m| m.is_empty()),
            "no key left behind"
        );
    }

    #[test]
    fn ipv6_keyed_by_prefix() {
        assert_eq!(normalize("2001:db8::1"), normalize("2001:db8::2"));
        assert_ne!(normalize("2001:db8:0:1::1"), normalize("2001:db8::1"));
        assert_eq!(normalize("::ffff:10.0.0.1"), "10.0.0.1");
    }
}
