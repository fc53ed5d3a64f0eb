//! The hostile suite's report: the fuzz runs, each scenario (what it
//! injected, what it checked, pass or fail, its figures) and the loads.

use crate::fuzz;

use super::load::LoadResult;
use super::scenarios::Tested;
use super::Fuzzed;

/// Prints the report; a part that could not run at all is said to have failed.
pub fn print(fuzzed: &Fuzzed<'_>, tested: &Tested, loads: Option<&[LoadResult]>) {
    println!("\n==== hostile suite report ====\n");
    println!("-- fuzzing (working corpus + committed seeds) --");
    match fuzzed {
        Fuzzed::Ran(runs) => println!("{}", fuzz::table(runs)),
        Fuzzed::Failed => println!("FAIL: a target crashed or could not be built (see above)"),
        Fuzzed::Skipped => println!("skipped (0 seconds per target)"),
    }

    println!("\n-- scenarios --");
    for scenario in &tested.scenarios {
        let verdict = if scenario.outcome == "ok" {
            "pass"
        } else {
            "FAIL"
        };
        println!("{verdict}  {}", scenario.test);
        if !scenario.injected.is_empty() {
            println!("      injected: {}", scenario.injected);
            println!("      checked:  {}", scenario.checked);
        }
        for (name, value) in &scenario.figures {
            println!("      {name}: {value}");
        }
    }
    if tested.scenarios.is_empty() || !tested.run.succeeded {
        println!("FAIL: cargo test of the scenarios did not succeed (see above)");
    }

    println!(
        "\n-- bounded load (wrk, 2 threads, debug build) while /healthz is probed every 100 ms --"
    );
    let Some(loads) = loads else {
        println!("FAIL: the load could not run (see above)");
        return;
    };
    println!(
        "{:<6} {:<10} {:<20} {:>8} {:>9} {:>8} {:>7} {:>5} {:>7} {:>10} {:>9}",
        "",
        "backend",
        "request",
        "req/s",
        "p99 ms",
        "2xx/3xx",
        "429",
        "5xx",
        "probes",
        "probe max",
        "unanswered"
    );
    for load in loads {
        let statuses = load.wrk.statuses.as_ref();
        let count = |f: fn(&crate::wrk::Statuses) -> u64| {
            statuses.map_or("-".to_owned(), |s| f(s).to_string())
        };
        println!(
            "{:<6} {:<10} {:<20} {:>8.0} {:>9.1} {:>8} {:>7} {:>5} {:>7} {:>8.1}ms {:>9}",
            if load.passed() { "pass" } else { "FAIL" },
            load.backend,
            load.request,
            load.wrk.requests_per_sec,
            load.wrk.p99_ms,
            count(|s| s.success),
            count(|s| s.limited),
            load.server_errors(),
            load.probes.latencies_ms.len(),
            load.probes.max_ms(),
            load.probes.failures,
        );
    }
}
