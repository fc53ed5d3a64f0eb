//! Where one server's share of a deployment spends its time: in the
//! server's Docker (the wall time of every remote `docker` command; the
//! steps run them all through [`super::docker::run`]), waiting for the new
//! container's health check to pass (the application's time), and draining
//! the old container (its requests' time). The rest of the share's total
//! is ServOS's own: the SSH connection, the proxy, files, database writes
//! and the step log.
//!
//! A Docker command's time is measured around its SSH exec, so it includes
//! one channel round trip to the server (open, exec, exit status), which
//! `cargo xtask bench ssh` measures on its own; nothing is subtracted.
//!
//! The clock travels with the share's future as a task-local value (as a
//! tracing span does), so the helpers recovery shares with the steps need
//! no clock argument; commands run outside a measured share are not
//! counted. Phases may nest (the Docker commands of a health check): the
//! outer phase is charged only the time its inner phases were not, so the
//! phases never add up to more than the total.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::store::deployment_targets::TargetTimings;

tokio::task_local! {
    /// The clock of the server's share being run.
    static CLOCK: StepClock;
}

/// What a measured span of a share is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A Docker command on the server.
    Docker,
    /// Waiting for the new container's health check to pass.
    HealthWait,
    /// Waiting for the old container's requests to finish.
    Drain,
}

/// Where one server's share went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    /// From the start of the share to its end.
    pub total: Duration,
    /// In the server's Docker.
    pub docker: Duration,
    /// Waiting for the health check, besides its Docker commands.
    pub health_wait: Duration,
    /// Draining the old container.
    pub drain: Duration,
}

impl Spent {
    /// ServOS's own time: the total less Docker, health wait and drain.
    pub fn servos(&self) -> Duration {
        self.total
            .saturating_sub(self.docker + self.health_wait + self.drain)
    }
}

/// `took 1.234 s: docker 0.950 s, health check 0.200 s, drain 0.010 s,
/// ServOS 0.074 s` (the step log's line; stable for readers that parse it).
impl fmt::Display for Spent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "took {:.3} s: docker {:.3} s, health check {:.3} s, drain {:.3} s, ServOS {:.3} s",
            self.total.as_secs_f64(),
            self.docker.as_secs_f64(),
            self.health_wait.as_secs_f64(),
            self.drain.as_secs_f64(),
            self.servos().as_secs_f64()
        )
    }
}

/// Recorded in whole milliseconds.
impl From<Spent> for TargetTimings {
    fn from(spent: Spent) -> Self {
        let ms = |d: Duration| Some(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self {
            total_ms: ms(spent.total),
            docker_ms: ms(spent.docker),
            health_wait_ms: ms(spent.health_wait),
            drain_ms: ms(spent.drain),
        }
    }
}

/// The time of one server's share so far. A share runs its steps one after
/// the other, so plain cells suffice.
#[derive(Debug)]
pub struct StepClock {
    started: Instant,
    docker: Cell<Duration>,
    health_wait: Cell<Duration>,
    drain: Cell<Duration>,
}

impl StepClock {
    /// A clock started now.
    pub fn start() -> Self {
        Self {
            started: Instant::now(),
            docker: Cell::default(),
            health_wait: Cell::default(),
            drain: Cell::default(),
        }
    }

    /// Everything charged to a phase so far.
    fn charged(&self) -> Duration {
        self.docker.get() + self.health_wait.get() + self.drain.get()
    }

    /// Charges `phase` a span that took `took` and began when the clock had
    /// charged `mark`, less what phases nested in it were charged since.
    fn settle(&self, phase: Phase, took: Duration, mark: Duration) {
        let nested = self.charged().saturating_sub(mark);
        let cell = match phase {
            Phase::Docker => &self.docker,
            Phase::HealthWait => &self.health_wait,
            Phase::Drain => &self.drain,
        };
        cell.set(cell.get() + took.saturating_sub(nested));
    }

    /// Where the share went, up to now.
    pub fn spent(&self) -> Spent {
        Spent {
            total: self.started.elapsed(),
            docker: self.docker.get(),
            health_wait: self.health_wait.get(),
            drain: self.drain.get(),
        }
    }
}

/// Runs a server's share on a new clock; returns its result and where its
/// time went.
pub async fn measure<T>(share: impl Future<Output = T>) -> (T, Spent) {
    CLOCK
        .scope(StepClock::start(), async {
            let result = share.await;
            (result, CLOCK.with(StepClock::spent))
        })
        .await
}

/// Runs `work`, charging its time to `phase` of the share it runs in (if
/// any).
pub async fn timed<T>(phase: Phase, work: impl Future<Output = T>) -> T {
    let mark = CLOCK.try_with(StepClock::charged).ok();
    let started = Instant::now();
    let result = work.await;
    if let Some(mark) = mark {
        let took = started.elapsed();
        // Cannot fail: the clock was there when the work began.
        let _ = CLOCK.try_with(|clock| clock.settle(phase, took, mark));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nested_phases_are_charged_once() {
        let clock = StepClock::start();
        let health_began = clock.charged();
        // A health check of 1 s whose Docker commands took 300 ms.
        let inspect = clock.charged();
        clock.settle(Phase::Docker, 200 * MS, inspect);
        let exec = clock.charged();
        clock.settle(Phase::Docker, 100 * MS, exec);
        clock.settle(Phase::HealthWait, 1000 * MS, health_began);
        let drain = clock.charged();
        clock.settle(Phase::Drain, 50 * MS, drain);
        let spent = clock.spent();
        assert_eq!(spent.docker, 300 * MS);
        assert_eq!(spent.health_wait, 700 * MS);
        assert_eq!(spent.drain, 50 * MS);
    }

    #[test]
    fn servos_time_is_the_rest_and_never_negative() {
        let spent = Spent {
            total: 1234 * MS,
            docker: 950 * MS,
            health_wait: 200 * MS,
            drain: 10 * MS,
        };
        assert_eq!(spent.servos(), 74 * MS);
        assert_eq!(
            spent.to_string(),
            "took 1.234 s: docker 0.950 s, health check 0.200 s, drain 0.010 s, ServOS 0.074 s"
        );
        let odd = Spent {
            total: MS,
            docker: 2 * MS,
            ..Spent::default()
        };
        assert_eq!(odd.servos(), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_share_adds_up_and_work_outside_one_is_not_counted() {
        let nap = |ms| tokio::time::sleep(ms * MS);
        // Outside a share: runs, charged nowhere.
        assert_eq!(timed(Phase::Docker, async { 7 }).await, 7);
        let ((), spent) = measure(async {
            timed(Phase::Docker, nap(20)).await;
            timed(Phase::HealthWait, async {
                nap(10).await;
                timed(Phase::Docker, nap(20)).await;
            })
            .await;
            nap(10).await;
        })
        .await;
        assert!(spent.docker >= 40 * MS, "{spent:?}");
        assert!(spent.health_wait >= 10 * MS, "{spent:?}");
        assert_eq!(spent.drain, Duration::ZERO);
        assert!(
            spent.docker + spent.health_wait + spent.drain <= spent.total,
            "{spent:?}"
        );
        assert!(spent.servos() >= 10 * MS, "{spent:?}");
    }
}
