//! Load with `wrk` and the numbers read back from its report.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, Context, Result};

use crate::cmd;

/// What one `wrk` run measured.
#[derive(Debug, PartialEq)]
pub struct Measurement {
    /// Completed requests per second.
    pub requests_per_sec: f64,
    /// 99th percentile latency in milliseconds.
    pub p99_ms: f64,
    /// Answers that were not 2xx or 3xx (those make the run meaningless).
    pub non_success: u64,
}

/// Runs `wrk -t2 -c32 -d10s --latency` against `url` with a bearer token.
/// The token goes into a Lua script file (mode 0600) in `scratch`, not argv.
pub fn run(url: &str, bearer_token: &str, scratch: &Path) -> Result<Measurement> {
    let script = scratch.join("auth.lua");
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&script)
        .and_then(|mut file| {
            writeln!(
                file,
                "wrk.headers[\"Authorization\"] = {}",
                lua_string(&format!("Bearer {bearer_token}"))
            )
        })
        .with_context(|| format!("could not write {}", script.display()))?;
    eprintln!("xtask: wrk -t2 -c32 -d10s --latency {url}");
    let report = cmd::read_stdout(
        Command::new("wrk")
            .args(["-t2", "-c32", "-d10s", "--latency", "-s"])
            .arg(&script)
            .arg(url),
    )?;
    parse(&report).with_context(|| format!("unexpected wrk report:\n{report}"))
}

/// A Lua string literal.
fn lua_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads `Requests/sec:`, the `99%` latency line and the error count.
fn parse(report: &str) -> Result<Measurement> {
    let mut requests_per_sec = None;
    let mut p99_ms = None;
    let mut non_success = 0;
    for line in report.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            requests_per_sec = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("99%") {
            p99_ms = milliseconds(value.trim());
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_success = value.trim().parse().unwrap_or(u64::MAX);
        }
    }
    Ok(Measurement {
        requests_per_sec: requests_per_sec.ok_or_else(|| anyhow!("no Requests/sec line"))?,
        p99_ms: p99_ms.ok_or_else(|| anyhow!("no 99% latency line"))?,
        non_success,
    })
}

/// `635.91us`, `1.98ms`, `2.01s`, `1.5m` → milliseconds.
fn milliseconds(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        _ => return None,
    };
    Some(number * scale)
}

#[cfg(test)]
mod tests {
    use super::{lua_string, parse, Measurement};

    const REPORT: &str = "\
Running 10s test @ http://127.0.0.1:8080/api/v1/me
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   700.01us  200.00us   5.00ms   90.00%
    Req/Sec    22.00k     1.00k   24.00k    70.00%
  Latency Distribution
     50%  635.91us
     75%  712.34us
     90%    0.92ms
     99%    1.98ms
  440000 requests in 10.00s, 80.00MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  43999.50
Transfer/sec:      8.00MB
";

    #[test]
    fn reads_throughput_p99_and_errors() -> anyhow::Result<()> {
        assert_eq!(
            parse(REPORT)?,
            Measurement {
                requests_per_sec: 43999.5,
                p99_ms: 1.98,
                non_success: 12
            }
        );
        Ok(())
    }

    #[test]
    fn lua_strings_are_escaped() {
        assert_eq!(lua_string("Bearer a\"b"), "\"Bearer a\\\"b\"");
    }
}
