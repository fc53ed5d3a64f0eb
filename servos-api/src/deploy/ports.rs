//! The loopback port of a server that a new container publishes its
//! application port on. Docker keeps an explicit port across the
//! container's restarts (its restart policy after a crash, a dockerd
//! restart, a reboot), so the proxy's route stays right; an ephemeral one
//! would change. The port is chosen at random in the configured range
//! (`SERVOS_DEPLOY_PORTS`, by default 20000–29999) among those no
//! ServOS container of the server has (running or stopped) and nothing
//! listens on; a port taken between that look and `docker run` is retried
//! with another.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use ring::rand::{SecureRandom as _, SystemRandom};

use super::docker;

/// How many ports one start tries before it gives up.
pub const ATTEMPTS: usize = 4;

/// Prints the host ports of every ServOS container of the server (one
/// number a line), then its listening TCP sockets (`ss -Htln`, when
/// installed). Best effort: a port missed here fails `docker run`, which
/// is retried with another.
pub fn used_command() -> String {
    format!("{}; ss -Htln 2>/dev/null", docker::host_ports_command())
}

/// The ports `used_command`'s output names: bare numbers (Docker's host
/// ports) and the local addresses of `ss` lines (`LISTEN 0 4096
/// 127.0.0.1:2019 0.0.0.0:*`). Lines it cannot read are skipped.
pub fn parse_used(output: &str) -> BTreeSet<u16> {
    output
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let port = if line.bytes().all(|b| b.is_ascii_digit()) {
                line
            } else {
                line.split_whitespace().nth(3)?.rsplit_once(':')?.1
            };
            port.parse().ok().filter(|port| *port != 0)
        })
        .collect()
}

/// The port of `range` not in `used` that `random` selects (uniformly
/// when `random` is); `None` when every port is used.
pub fn choose(range: &RangeInclusive<u16>, used: &BTreeSet<u16>, random: u32) -> Option<u16> {
    let mut free = range.clone().filter(|port| !used.contains(port));
    let count = free.clone().count();
    let index = usize::try_from(random).ok()? % count.max(1);
    free.nth(index)
}

/// A random port of `range` not in `used`; `None` when every port is used.
pub fn pick(range: &RangeInclusive<u16>, used: &BTreeSet<u16>) -> Option<u16> {
    let mut bytes = [0; 4];
    // The system's generator does not fail on Linux; the first free port will do if it does.
    let random = match SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u32::from_le_bytes(bytes),
        Err(_) => 0,
    };
    choose(range, used, random)
}

/// True when `docker run` failed because its host port was taken.
pub fn is_taken(stderr: &str) -> bool {
    let stderr = stderr.to_ascii_lowercase();
    stderr.contains("port is already allocated") || stderr.contains("address already in use")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_ports_come_from_docker_and_listeners() {
        let output = "20001\n\n20001\n29999\n\
            LISTEN 0      4096       127.0.0.1:2019       0.0.0.0:*\n\
            LISTEN 0      128        0.0.0.0:22           0.0.0.0:*\n\
            LISTEN 0      4096       [::]:443             [::]:*\n\
            LISTEN 0      10         0.0.0.0%lo:20500     0.0.0.0:*\n\
            garbage line\n70000\n0\n";
        assert_eq!(
            parse_used(output),
            BTreeSet::from([22, 443, 2019, 20001, 20500, 29999])
        );
        assert!(parse_used("").is_empty());
    }

    #[test]
    fn the_choice_skips_used_ports() {
        let range = 20000..=20004;
        let used = BTreeSet::from([20000, 20002, 31000]);
        let chosen: BTreeSet<u16> = (0..9).filter_map(|r| choose(&range, &used, r)).collect();
        assert_eq!(chosen, BTreeSet::from([20001, 20003, 20004]));
        assert_eq!(choose(&range, &used, 0), Some(20001));
        assert_eq!(choose(&range, &used, 4), Some(20003));
        assert_eq!(choose(&range, &used, 3), Some(20001));
        let all = BTreeSet::from([20000, 20001, 20002, 20003, 20004]);
        assert_eq!(choose(&range, &all, 7), None);
        assert_eq!(pick(&range, &all), None);
        let picked =
            pick(&crate::config::defaults::DEPLOY_PORTS.ports(), &used).expect("a free port");
        assert!(
            crate::config::defaults::DEPLOY_PORTS
                .ports()
                .contains(&picked)
                && !used.contains(&picked)
        );
    }

    #[test]
    fn taken_ports_are_recognised() {
        assert!(is_taken(
            "docker: Error response from daemon: driver failed programming external \
             connectivity on endpoint x: Bind for 127.0.0.1:20001 failed: port is already allocated."
        ));
        assert!(is_taken(
            "Error starting userland proxy: listen tcp4 127.0.0.1:20001: bind: address already in use"
        ));
        assert!(!is_taken(
            "docker: Error response from daemon: No such image: x."
        ));
    }
}
