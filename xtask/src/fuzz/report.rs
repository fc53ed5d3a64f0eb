//! What each fuzz run did: libFuzzer's final statistics (`-print_final_stats=1`) and a table of the runs.

/// One target's run, for the table `cargo xtask fuzz` prints and for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzRun {
    /// The fuzz crate, relative to the workspace root (`servos-common/fuzz`).
    pub crate_dir: &'static str,
    /// The target's name in that crate.
    pub target: &'static str,
    /// How long the target was asked to run.
    pub seconds: u32,
    /// Inputs run (`stat::number_of_executed_units`).
    pub executions: u64,
    /// Peak resident memory in MB (`stat::peak_rss_mb`), when libFuzzer printed it.
    pub peak_rss_mb: Option<u64>,
    /// Committed seed inputs in `<crate>/seeds/<target>/`.
    pub seeds: usize,
    /// Inputs in the working corpus `<crate>/corpus/<target>/` after the run.
    pub corpus_after: usize,
}

/// The statistics libFuzzer prints as it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stats {
    pub executions: u64,
    pub peak_rss_mb: Option<u64>,
}

impl Stats {
    /// Reads the last `stat::` lines of what libFuzzer printed; `None` without an execution count.
    pub fn parse(stderr: &str) -> Option<Self> {
        let last = |name: &str| {
            stderr
                .lines()
                .rev()
                .filter_map(|line| line.trim().strip_prefix("stat::")?.strip_prefix(name))
                .find_map(|rest| rest.strip_prefix(':')?.trim().parse().ok())
        };
        Some(Self {
            executions: last("number_of_executed_units")?,
            peak_rss_mb: last("peak_rss_mb"),
        })
    }
}

/// The runs as an aligned text table, one line per target.
pub fn table(runs: &[FuzzRun]) -> String {
    let header = [
        "target",
        "seconds",
        "executions",
        "exec/s",
        "peak RSS MB",
        "seeds",
        "corpus",
    ];
    let mut rows = vec![header.map(str::to_owned)];
    for run in runs {
        rows.push([
            format!("{}/{}", run.crate_dir, run.target),
            run.seconds.to_string(),
            run.executions.to_string(),
            (run.executions / u64::from(run.seconds.max(1))).to_string(),
            run.peak_rss_mb.map_or("-".to_owned(), |mb| mb.to_string()),
            run.seeds.to_string(),
            run.corpus_after.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            // The target left-aligned, the numbers right-aligned.
            .map(|(column, (cell, &width))| match column {
                0 => format!("{cell:<width$}"),
                _ => format!("{cell:>width$}"),
            })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAIL: &str = "\
INFO: Running with entropic power schedule (0xFF, 100).
#1048576\tpulse  cov: 120 ft: 300 corp: 40/2Kb exec/s: 52428 rss: 61Mb
Done 1234567 runs in 21 second(s)
stat::number_of_executed_units: 1234567
stat::average_exec_per_sec:     58788
stat::new_units_added:          12
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              61
";

    #[test]
    fn final_statistics_are_read() {
        assert_eq!(
            Stats::parse(TAIL),
            Some(Stats {
                executions: 1_234_567,
                peak_rss_mb: Some(61),
            })
        );
        let without_rss = TAIL.replace("stat::peak_rss_mb:              61\n", "");
        assert_eq!(
            Stats::parse(&without_rss).map(|s| s.peak_rss_mb),
            Some(None)
        );
        assert_eq!(Stats::parse("Compiling servos-common\n"), None);
    }

    #[test]
    fn the_table_lines_up() {
        let run = FuzzRun {
            crate_dir: "servos-common/fuzz",
            target: "image_ref",
            seconds: 20,
            executions: 400_000,
            peak_rss_mb: None,
            seeds: 5,
            corpus_after: 81,
        };
        let table = table(&[run]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("target "), "{table}");
        assert!(
            lines[1].starts_with("servos-common/fuzz/image_ref  "),
            "{table}"
        );
        assert!(
            lines[1].ends_with("20000            -      5      81"),
            "{table}"
        );
    }
}
