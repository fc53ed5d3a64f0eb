//! The composite values settings are written in: `REQUESTS/SECONDS`
//! rates and `FIRST-LAST` port ranges.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

/// A rate: at most `requests` per `seconds`, written `REQUESTS/SECONDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed per window.
    pub requests: u32,
    /// The window, in seconds.
    pub seconds: u64,
}

impl Rate {
    /// The window as a duration.
    pub fn window(self) -> Duration {
        Duration::from_secs(self.seconds)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.requests, self.seconds)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (requests, seconds) = text
            .split_once('/')
            .ok_or("expected REQUESTS/SECONDS, e.g. 200/30")?;
        let requests = requests.trim().parse::<u32>().map_err(|e| e.to_string())?;
        let seconds = seconds.trim().parse::<u64>().map_err(|e| e.to_string())?;
        if requests == 0 || seconds == 0 {
            return Err("both numbers must be positive".into());
        }
        Ok(Self { requests, seconds })
    }
}

/// Ports `FIRST-LAST`: at least 10, none privileged (below 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// The first port.
    pub first: u16,
    /// The last port.
    pub last: u16,
}

impl PortRange {
    /// The ports, inclusive.
    pub fn ports(self) -> RangeInclusive<u16> {
        self.first..=self.last
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (first, last) = text
            .split_once('-')
            .ok_or("expected FIRST-LAST, e.g. 20000-29999")?;
        let first = first.trim().parse::<u16>().map_err(|e| e.to_string())?;
        let last = last.trim().parse::<u16>().map_err(|e| e.to_string())?;
        if first < 1024 {
            return Err("ports below 1024 are privileged".into());
        }
        if last < first.saturating_add(9) {
            return Err("the range needs at least 10 ports".into());
        }
        Ok(Self { first, last })
    }
}
