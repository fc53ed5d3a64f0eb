//! SSH benchmark, run by `cargo xtask bench ssh`: the wall time to run `true`
//! on every host of a list through ServOS's SSH layer (host key pinned,
//! public key authentication), each host on a new connection (cold), one by
//! one and all at once, and over connections already open (warm).
//!
//! Input: `SERVOS_BENCH_SSH_HOSTS`, a file of `address port user fingerprint`
//! lines; `SERVOS_BENCH_SSH_KEY`, the client's private key file. Output: one
//! `servos <mode> <hosts> <milliseconds>` line per measurement.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use servos_api::ssh::{self, Session, Target, Timeouts};
use servos_common::secret::SecretText;

/// Rounds per measurement; the median is printed.
const ROUNDS: usize = 5;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let hosts_file = std::env::var("SERVOS_BENCH_SSH_HOSTS").context("SERVOS_BENCH_SSH_HOSTS")?;
    let key_file = std::env::var("SERVOS_BENCH_SSH_KEY").context("SERVOS_BENCH_SSH_KEY")?;
    let key = SecretText::new(std::fs::read_to_string(&key_file).context("read the key")?);
    let mut targets = Vec::new();
    for line in std::fs::read_to_string(&hosts_file)
        .context("read the host list")?
        .lines()
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [address, port, user, fingerprint] = fields[..] else {
            bail!("a host line is `address port user fingerprint`, not {line:?}");
        };
        targets.push(Target {
            address: address.to_owned(),
            port: port.parse().context("port")?,
            user: user.to_owned(),
            private_key: SecretText::new(key.expose().to_owned()),
            passphrase: None,
            pinned: Some(fingerprint.to_owned()),
        });
    }
    let n = targets.len();
    let timeouts = servos_api::config::defaults::ssh_timeouts();

    let sequential = median(ROUNDS, || async {
        for target in &targets {
            let session = connect(target, timeouts).await?;
            run_true(&session).await?;
            session.close().await;
        }
        Ok(())
    })
    .await?;
    println!("servos cold-sequential {n} {:.1}", millis(sequential));

    let parallel = median(ROUNDS, || async {
        let runs = targets.iter().map(|target| async move {
            let session = connect(target, timeouts).await?;
            run_true(&session).await?;
            session.close().await;
            anyhow::Ok(())
        });
        futures_util::future::try_join_all(runs).await?;
        Ok(())
    })
    .await?;
    println!("servos cold-parallel {n} {:.1}", millis(parallel));

    let sessions =
        futures_util::future::try_join_all(targets.iter().map(|t| connect(t, timeouts))).await?;
    let warm = median(ROUNDS, || async {
        futures_util::future::try_join_all(sessions.iter().map(run_true)).await?;
        Ok(())
    })
    .await?;
    println!("servos warm-parallel {n} {:.1}", millis(warm));
    for session in sessions {
        session.close().await;
    }
    Ok(())
}

/// Connects to one target, naming it in the error.
async fn connect(target: &Target, timeouts: Timeouts) -> anyhow::Result<Session> {
    ssh::connect(target, timeouts)
        .await
        .with_context(|| format!("connect to {}:{}", target.address, target.port))
}

/// Runs `true` and requires it to succeed.
async fn run_true(session: &Session) -> anyhow::Result<()> {
    session.run("true", None).await?.success("true")?;
    Ok(())
}

/// The median wall time of `rounds` runs of `f`.
async fn median<F, Fut>(rounds: usize, mut f: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        f().await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok(times[rounds / 2])
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
