//! Load with `wrk` and the numbers read back from its report: a bearer
//! token, a body and a count of the answers by status go into a Lua script
//! file (mode 0600), never into argv.

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
    /// Answers by class, when the load counted them ([`Load::count_statuses`]).
    pub statuses: Option<Statuses>,
}

/// Answers of one run by class.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Statuses {
    /// 2xx and 3xx.
    pub success: u64,
    /// 429 Too Many Requests.
    pub limited: u64,
    /// 5xx.
    pub server_error: u64,
    /// Every other status.
    pub other: u64,
}

/// One load: a request, how many connections send it and for how long.
pub struct Load<'a> {
    /// The URL.
    pub url: &'a str,
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// Header lines as (name, value); values may be secret.
    pub headers: &'a [(&'a str, &'a str)],
    /// The request body, if any (may be secret).
    pub body: Option<&'a str>,
    /// Open connections (`-c`), over two threads.
    pub connections: u32,
    /// Duration (`-d`).
    pub seconds: u32,
    /// Counts answers by class, at some cost in throughput (every answer
    /// goes through Lua).
    pub count_statuses: bool,
    /// A header given a value of its own in every request (a delivery id).
    pub fresh_header: Option<&'a str>,
}

/// Runs `wrk -t2 -c32 -d10s --latency` against `url` with a bearer token.
pub fn run(url: &str, bearer_token: &str, scratch: &Path) -> Result<Measurement> {
    let authorization = format!("Bearer {bearer_token}");
    run_load(
        &Load {
            url,
            method: "GET",
            headers: &[("Authorization", &authorization)],
            body: None,
            connections: 32,
            seconds: 10,
            count_statuses: false,
            fresh_header: None,
        },
        scratch,
    )
}

/// Runs one load; its script is written to `scratch/load.lua`.
pub fn run_load(load: &Load<'_>, scratch: &Path) -> Result<Measurement> {
    let script = scratch.join("load.lua");
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&script)
        .and_then(|mut file| file.write_all(lua_script(load).as_bytes()))
        .with_context(|| format!("could not write {}", script.display()))?;
    let (connections, duration) = (
        format!("-c{}", load.connections),
        format!("-d{}s", load.seconds),
    );
    eprintln!(
        "xtask: wrk -t2 {connections} {duration} --latency ({} {})",
        load.method, load.url
    );
    let report = cmd::read_stdout(
        Command::new("wrk")
            .args(["-t2", &connections, &duration, "--latency", "-s"])
            .arg(&script)
            .arg(load.url),
    )?;
    parse(&report).with_context(|| format!("unexpected wrk report:\n{report}"))
}

/// The script setting the request, and counting answers when asked.
fn lua_script(load: &Load<'_>) -> String {
    let mut script = format!("wrk.method = {}\n", lua_string(load.method));
    for (name, value) in load.headers {
        script.push_str(&format!(
            "wrk.headers[{}] = {}\n",
            lua_string(name),
            lua_string(value)
        ));
    }
    if let Some(body) = load.body {
        script.push_str(&format!("wrk.body = {}\n", lua_string(body)));
    }
    script.push_str(THREADS);
    if let Some(name) = load.fresh_header {
        script.push_str(&format!(
            "local sent = 0\n\
             request = function()\n\
             \x20 sent = sent + 1\n\
             \x20 wrk.headers[{}] = string.format(\"wrk-%d-%d\", id, sent)\n\
             \x20 return wrk.format()\n\
             end\n",
            lua_string(name)
        ));
    }
    if load.count_statuses {
        script.push_str(STATUS_COUNTER);
    }
    script
}

/// Numbers each thread (its global `id`) and keeps them for `done`.
const THREADS: &str = r#"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end
"#;

/// Counts answers by class in each thread and prints the sums in one line
/// `statuses: <success> <limited> <server error> <other>`.
const STATUS_COUNTER: &str = r#"
function init(args) success, limited, server_error, other = 0, 0, 0, 0 end
function response(status, headers, body)
  if status < 400 then success = success + 1
  elseif status == 429 then limited = limited + 1
  elseif status >= 500 then server_error = server_error + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local s, l, e, o = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("success"); l = l + t:get("limited")
    e = e + t:get("server_error"); o = o + t:get("other")
  end
  io.write(string.format("statuses: %d %d %d %d\n", s, l, e, o))
end
"#;

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
    let mut statuses = None;
    for line in report.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            requests_per_sec = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("99%") {
            p99_ms = milliseconds(value.trim());
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_success = value.trim().parse().unwrap_or(u64::MAX);
        } else if let Some(value) = line.strip_prefix("statuses:") {
            statuses = Some(parse_statuses(value)?);
        }
    }
    Ok(Measurement {
        requests_per_sec: requests_per_sec.ok_or_else(|| anyhow!("no Requests/sec line"))?,
        p99_ms: p99_ms.ok_or_else(|| anyhow!("no 99% latency line"))?,
        non_success,
        statuses,
    })
}

/// `<success> <limited> <server error> <other>`.
fn parse_statuses(text: &str) -> Result<Statuses> {
    let numbers = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<u64>, _>>()
        .context("a statuses line of four counts")?;
    match numbers.as_slice() {
        [success, limited, server_error, other] => Ok(Statuses {
            success: *success,
            limited: *limited,
            server_error: *server_error,
            other: *other,
        }),
        _ => Err(anyhow!("a statuses line of four counts, not {text:?}")),
    }
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
    use super::{lua_string, parse, Measurement, Statuses};

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
                non_success: 12,
                statuses: None,
            }
        );
        Ok(())
    }

    #[test]
    fn reads_the_status_counts() -> anyhow::Result<()> {
        let report = format!("{REPORT}statuses: 60 1200 0 3\n");
        assert_eq!(
            parse(&report)?.statuses,
            Some(Statuses {
                success: 60,
                limited: 1200,
                server_error: 0,
                other: 3
            })
        );
        Ok(())
    }

    #[test]
    fn lua_strings_are_escaped() {
        assert_eq!(lua_string("Bearer a\"b"), "\"Bearer a\\\"b\"");
    }
}
