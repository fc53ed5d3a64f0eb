//! Vault benchmark, run by `cargo xtask bench vault`: envelope throughput for
//! 1 KiB values on one core, and the wall time of a data key rotation over
//! many secrets on SQLite and (when `SERVOS_BENCH_PG_URL` is set) PostgreSQL.

use std::hint::black_box;
use std::time::Instant;

use anyhow::Context as _;
use servos_api::config::Config;
use servos_api::credentials;
use servos_api::error::ServiceError;
use servos_api::state::AppState;
use servos_api::store::registries::{self, RegistryRow};
use servos_api::store::{self, tx, DatabaseTarget};
use servos_api::vault::rotation;
use servos_common::envelope::{Aad, EnvelopeKey};
use servos_common::master_key::MasterKey;

const VALUE_BYTES: usize = 1024;
const SEED_BATCH: usize = 10_000;

fn main() -> anyhow::Result<()> {
    let secrets: usize = std::env::var("SERVOS_BENCH_SECRETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (seal_mbs, open_mbs) = envelope_throughput()?;
    println!("envelope, 1 KiB values, one core: seal {seal_mbs:.0} MB/s, open {open_mbs:.0} MB/s");

    let scratch = tempfile::tempdir().context("temp dir")?;
    let mut targets = vec![(
        "sqlite",
        DatabaseTarget::Sqlite(scratch.path().join("bench.db")),
    )];
    if let Ok(url) = std::env::var("SERVOS_BENCH_PG_URL") {
        targets.push(("postgres", DatabaseTarget::Postgres(url)));
    }
    println!(
        "\n{:<10} {:>10} {:>12} {:>14} {:>12}",
        "backend", "secrets", "seed (s)", "rotate (s)", "values/s"
    );
    for (name, target) in targets {
        let (seed, rotate) = rotation_time(scratch.path(), target, secrets)?;
        println!(
            "{name:<10} {secrets:>10} {seed:>12.2} {rotate:>14.2} {:>12.0}",
            secrets as f64 / rotate
        );
    }
    Ok(())
}

/// MB/s of sealing and of opening 1 KiB values, base64 included.
fn envelope_throughput() -> anyhow::Result<(f64, f64)> {
    let key = EnvelopeKey::new("bench".into(), &[7; 32]);
    let aad = Aad {
        table: "registries",
        column: "password",
        identity: "00000000-0000-4000-8000-000000000000",
    };
    let value = vec![0x5a; VALUE_BYTES];
    let rounds = 100_000;
    let started = Instant::now();
    let mut sealed = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        sealed.push(key.seal(&aad, black_box(&value))?);
    }
    let seal_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for text in &sealed {
        black_box(key.open(&aad, text)?);
    }
    let open_secs = started.elapsed().as_secs_f64();
    let megabytes = (rounds * VALUE_BYTES) as f64 / 1e6;
    Ok((megabytes / seal_secs, megabytes / open_secs))
}

/// Seeds `secrets` registry passwords, then times one data key rotation.
fn rotation_time(
    dir: &std::path::Path,
    target: DatabaseTarget,
    secrets: usize,
) -> anyhow::Result<(f64, f64)> {
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
        .map_err(|_| anyhow::anyhow!("random"))?;
    let master = MasterKey::parse(Some(&base64_key(&key)))?;
    let state = AppState::open(Config::new(dir.join("data"), target), master)?;
    let mut conn = state.pool.get()?;
    let keyring = state.vault.keyring();
    let started = Instant::now();
    for batch in 0..secrets.div_ceil(SEED_BATCH) {
        tx::write(&mut conn, |conn| -> Result<(), ServiceError> {
            let now = store::now();
            for i in batch * SEED_BATCH..((batch + 1) * SEED_BATCH).min(secrets) {
                let id = format!("{i:08}-0000-4000-8000-000000000000");
                let sealed = credentials::seal(
                    conn,
                    keyring,
                    "registries",
                    "password",
                    &id,
                    format!("secret-{i}").as_bytes(),
                )?;
                registries::insert(
                    conn,
                    &RegistryRow {
                        name: format!("registry-{i}"),
                        host: "registry.example.com".into(),
                        username: "bench".into(),
                        password: sealed.value,
                        password_key_id: sealed.key_id,
                        created_at: now,
                        updated_at: now,
                        deleted_at: None,
                        id,
                    },
                )?;
            }
            Ok(())
        })
        .map_err(|e| anyhow::anyhow!("seeding: {e}"))?;
    }
    let seed = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let report = rotation::rotate_data_key(&mut conn, keyring, &state.audit_chain)?;
    let rotate = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.reencrypted as usize == secrets && report.failed.is_empty(),
        "rotation incomplete: {report:?}"
    );
    Ok((seed, rotate))
}

fn base64_key(bytes: &[u8; 32]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
