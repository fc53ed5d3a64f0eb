//! The test lab: several "servers" on this machine, each a network namespace with its own address, sshd and (optionally) Docker daemon.
//!
//! [`Lab::up`] claims a free slot (so parallel tests, in threads or processes, never
//! share names or addresses), creates the hosts in parallel, and returns once every
//! sshd answers with its banner and every dockerd answers `docker version` and holds
//! [`TEST_IMAGE`]. Dropping the [`Lab`] tears everything down; [`Lab::keep`] leaves it
//! running for `cargo xtask lab up`, and [`Lab::down`] / [`Lab::down_all`] remove
//! kept labs and whatever dead processes left behind.
//!
//! The lab needs root and the Debian packages iproute2, iptables, util-linux,
//! openssh-server and openssh-client, plus docker.io and busybox-static for Docker
//! hosts; `cargo xtask test` installs them. It touches only addresses in
//! 10.231.0.0/16, names starting with `svl`, `/run/servos-lab`, its own FORWARD
//! rules, and turns IPv4 forwarding on.
//!
//! [`postgres::Cluster`] is the lab's database server: a private PostgreSQL
//! cluster in a given folder that a test may restart, and `cargo xtask pg`
//! starts for the test suite.

mod disk;
mod docker;
mod error;
mod host;
mod image;
mod network;
mod plan;
pub mod postgres;
mod process;
mod slot;
mod sshd;
mod teardown;
mod tools;

use std::fs;
use std::os::unix::fs::DirBuilderExt as _;
use std::sync::Arc;

pub use error::LabError;
pub use host::Host;
pub use sshd::{client_key, ssh_client, HostKeyType};

use slot::{Owner, SlotLock};
use tools::Tools;

/// The image every Docker host holds: busybox (sh, env, cat, ls, sleep, httpd, wget,
/// nc, ...) in `/bin`, built locally from Debian's busybox-static.
pub const TEST_IMAGE: &str = "servos-test/busybox:1";

/// What a lab consists of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabOptions {
    /// How many hosts (1 to 128).
    pub hosts: usize,
    /// Whether each host runs its own Docker daemon; without, hosts run only sshd
    /// (cheap enough for benchmarks with 50 hosts).
    pub docker: bool,
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            hosts: 1,
            docker: true,
        }
    }
}

/// A running lab, torn down when dropped unless [`Lab::keep`] was called.
pub struct Lab {
    /// The slot this lab owns.
    slot: u16,
    /// The lab's name (`svl<slot>`).
    name: String,
    /// The hosts, in order.
    hosts: Vec<Host>,
    /// The programs the lab runs.
    tools: Arc<Tools>,
    /// Whether the lab is left running when dropped.
    kept: bool,
}

impl Lab {
    /// Claims a free lab slot, creates `options.hosts` hosts, and returns when every
    /// sshd answers (and every dockerd answers `docker version` and has the test
    /// image, with `options.docker`). `authorized_key` is one `authorized_keys` line,
    /// accepted for root on every host. On failure everything made so far is removed.
    pub fn up(options: &LabOptions, authorized_key: &str) -> Result<Lab, LabError> {
        if !(1..=plan::MAX_HOSTS).contains(&options.hosts) {
            return Err(LabError::InvalidRequest(format!(
                "a lab has 1 to {} hosts, not {}",
                plan::MAX_HOSTS,
                options.hosts
            )));
        }
        let authorized_key = authorized_key.trim();
        if authorized_key.is_empty() || authorized_key.contains('\n') {
            return Err(LabError::InvalidRequest(
                "the authorized key must be one authorized_keys line".to_owned(),
            ));
        }
        let tools = Arc::new(Tools::find(options.docker)?);
        let image_tar = match &tools.docker {
            Some(docker) => Some(image::rootfs_tar(docker)?),
            None => None,
        };
        network::enable_forwarding()?;
        let slot = {
            let lock = SlotLock::acquire()?;
            slot::claim(&lock, |stale| teardown::teardown(&tools, stale))?
        };
        // From here on, dropping `lab` removes whatever was made.
        let mut lab = Lab {
            slot,
            name: plan::lab_name(slot),
            hosts: (0..options.hosts)
                .map(|index| Host::new(slot, index, options.docker, &tools))
                .collect(),
            tools: Arc::clone(&tools),
            kept: false,
        };
        let dir = plan::lab_dir(slot);
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&dir)
            .map_err(|error| LabError::io(format!("create {}", dir.display()), error))?;
        network::add_forward_rules(&tools, slot)?;
        {
            let _lock = SlotLock::acquire()?;
            let links: Vec<_> = lab
                .hosts
                .iter()
                .map(|host| (host.name.clone(), host.addresses()))
                .collect();
            network::create_links(&tools, &links)?;
        }
        let image_tar = image_tar.as_deref();
        let failures: Vec<LabError> = std::thread::scope(|scope| {
            let started: Vec<_> = lab
                .hosts
                .iter_mut()
                .map(|host| {
                    let name = host.name.clone();
                    (
                        name,
                        scope.spawn(move || host.start(authorized_key, image_tar)),
                    )
                })
                .collect();
            started
                .into_iter()
                .filter_map(|(name, thread)| match thread.join() {
                    Ok(result) => result.err(),
                    Err(_) => Some(LabError::StartPanicked(name)),
                })
                .collect()
        });
        match failures.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(lab),
        }
    }

    /// The lab's name (`svl<slot>`), which [`Lab::down`] takes.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hosts, in the order they were asked for.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Leaves the lab running after this value and this process are gone (for
    /// `cargo xtask lab up`); returns its name for [`Lab::down`].
    pub fn keep(mut self) -> String {
        if let Err(error) = slot::mark_kept(self.slot) {
            // Still running, but the next lab may reclaim the slot once this process ends.
            warn(&error);
        }
        for host in &mut self.hosts {
            host.detach();
        }
        self.kept = true;
        self.name.clone()
    }

    /// Tears down the kept lab called `name` (or what a dead process left under that
    /// name). Refuses a lab whose owning process still runs.
    pub fn down(name: &str) -> Result<(), LabError> {
        let slot =
            plan::parse_lab_name(name).ok_or_else(|| LabError::UnknownLab(name.to_owned()))?;
        let tools = Tools::find(false)?;
        let _lock = SlotLock::acquire()?;
        let owner = slot::owner(slot)?;
        if let Some(pid) = owner.and_then(Owner::running_pid) {
            return Err(LabError::InUse {
                name: name.to_owned(),
                pid,
            });
        }
        if owner.is_none()
            && !slot::slots_in_use().contains(&slot)
            && !network::slots_with_rules(&tools)?.contains(&slot)
        {
            return Err(LabError::UnknownLab(name.to_owned()));
        }
        teardown::teardown(&tools, slot)?;
        slot::release(slot)
    }

    /// Tears down every lab on this machine that no running process owns: kept labs
    /// and those left by processes that died. Labs of running tests are left alone.
    pub fn down_all() -> Result<(), LabError> {
        let tools = Tools::find(false)?;
        let _lock = SlotLock::acquire()?;
        let mut slots = slot::slots_in_use();
        slots.extend(network::slots_with_rules(&tools)?);
        let mut first_error = None;
        for slot in slots {
            if slot::owner(slot)?.and_then(Owner::running_pid).is_some() {
                continue;
            }
            if let Err(error) = teardown::teardown(&tools, slot).and_then(|()| slot::release(slot))
            {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Nothing here may panic: the drop may run while a failed test unwinds.
        if self.kept {
            return;
        }
        let torn_down = teardown::teardown(&self.tools, self.slot);
        for host in &mut self.hosts {
            host.reap();
        }
        match torn_down.and_then(|()| slot::release(self.slot)) {
            Ok(()) => {}
            // The slot stays claimed; once this process ends, the next lab clears it.
            Err(error) => warn(&error),
        }
    }
}

/// Reports a problem that cannot be returned, without panicking (`eprintln!` would
/// panic if stderr were closed).
pub(crate) fn warn(error: &LabError) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "servos-lab: {error}");
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("name", &self.name)
            .field("hosts", &self.hosts)
            .field("kept", &self.kept)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labs_and_hosts_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Lab>();
        shareable::<Host>();
        shareable::<LabError>();
    }

    #[test]
    fn impossible_requests_are_refused_before_anything_is_made() {
        for hosts in [0, plan::MAX_HOSTS + 1] {
            let options = LabOptions {
                hosts,
                docker: false,
            };
            let refused = Lab::up(&options, "ssh-ed25519 AAAA test");
            assert!(
                matches!(refused, Err(LabError::InvalidRequest(_))),
                "{refused:?}"
            );
        }
        let two_lines = Lab::up(
            &LabOptions::default(),
            "ssh-ed25519 AAAA a\nssh-ed25519 BBBB b",
        );
        assert!(matches!(two_lines, Err(LabError::InvalidRequest(_))));
    }
}
