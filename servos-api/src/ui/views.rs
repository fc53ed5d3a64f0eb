//! How values read on a page: times, statuses and their colours, sizes.
//! Presentation only; no decision of the product is made here.

use chrono::NaiveDateTime;

/// A stored UTC time as people read it: `2026-11-23 20:42 UTC`.
pub fn when(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The same time for a `<time datetime>` attribute (RFC 3339).
pub fn machine_time(at: NaiveDateTime) -> String {
    at.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A status word and the colour it is shown in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// What it says (`ready`, `host key changed`).
    pub label: String,
    /// CSS modifier: `ok` (green), `pending` (amber), `bad` (red), `neutral`.
    pub tone: &'static str,
}

/// A server's status: green ready, amber new or without Docker, red when
/// unreachable or its host key changed.
pub fn server_status(status: &str) -> Status {
    let tone = match status {
        "ready" => "ok",
        "new" | "docker_unavailable" => "pending",
        "unreachable" | "host_key_changed" => "bad",
        _ => "neutral",
    };
    Status {
        label: status.replace('_', " "),
        tone,
    }
}

/// A deployment's state, or the step it reached on one server: green
/// succeeded, red failed, grey waiting or cancelled, amber in between.
pub fn deployment_status(state: &str) -> Status {
    let tone = match state {
        "succeeded" => "ok",
        "failed" => "bad",
        "pending" | "cancelled" => "neutral",
        _ => "pending",
    };
    Status {
        label: state.to_owned(),
        tone,
    }
}

/// How long something took, to the second (`42s`, `3m 05s`, `1h 02m`).
pub fn duration(from: NaiveDateTime, to: NaiveDateTime) -> String {
    let secs = (to - from).num_seconds().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// The time of day of a log line: `20:42:07`.
pub fn clock(at: NaiveDateTime) -> String {
    at.format("%H:%M:%S").to_string()
}

/// An image digest cut to what tells images apart by eye
/// (`web@sha256:0123456789ab…`); other text unchanged.
pub fn short_digest(digest: &str) -> String {
    const SHOWN_HEX: usize = 12;
    let end = digest
        .find("sha256:")
        .map(|at| at + "sha256:".len() + SHOWN_HEX);
    match end.and_then(|end| digest.get(..end)) {
        Some(head) if head.len() < digest.len() => format!("{head}…"),
        _ => digest.to_owned(),
    }
}

/// Bytes as people read them (`12.3 GiB`).
pub fn bytes(count: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{count} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Thousandths of a CPU as a decimal (`500` → `0.5`).
pub fn cpus(milli: i64) -> String {
    let whole = milli / 1000;
    let frac = milli % 1000;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:03}")
            .trim_end_matches('0')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_well() {
        assert_eq!(server_status("host_key_changed").tone, "bad");
        assert_eq!(server_status("host_key_changed").label, "host key changed");
        assert_eq!(server_status("ready").tone, "ok");
        assert_eq!(server_status("new").tone, "pending");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(cpus(500), "0.5");
        assert_eq!(cpus(2000), "2");
        assert_eq!(cpus(1250), "1.25");
        assert_eq!(deployment_status("running").tone, "pending");
        assert_eq!(deployment_status("failed").tone, "bad");
        assert_eq!(deployment_status("checking").tone, "pending");
        assert_eq!(deployment_status("pending").tone, "neutral");
        let at = |secs| chrono::DateTime::from_timestamp(secs, 0).map(|t| t.naive_utc());
        let (Some(start), Some(short), Some(long)) = (at(0), at(42), at(3725)) else {
            panic!("valid times");
        };
        assert_eq!(duration(start, short), "42s");
        assert_eq!(duration(start, long), "1h 02m");
        assert_eq!(duration(short, start), "0s");
        assert_eq!(clock(long), "01:02:05");
        let digest = format!("web@sha256:{}", "ab".repeat(32));
        assert_eq!(short_digest(&digest), "web@sha256:abababababab…");
        assert_eq!(short_digest("web:1"), "web:1");
    }
}
