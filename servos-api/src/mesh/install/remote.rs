//! What the installer runs on a server: the commands (every value quoted,
//! no secret in any of them) and the systemd unit it writes. Paths follow
//! the server's environment where it sets them (`SERVOS_AGENT_BIN`,
//! `SERVOS_AGENT_STATE_DIR`, as test hosts sharing one file system do),
//! else the defaults.

use crate::ssh::shell::quote;

/// Where the agent binary goes by default.
pub const DEFAULT_BIN: &str = "/usr/local/bin/servos-agent";
/// Where the agent keeps its state by default.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/servos-agent";
/// The agent's systemd unit.
pub const UNIT_PATH: &str = "/etc/systemd/system/servos-agent.service";
/// The packaged unit, with the default paths.
const UNIT: &str = include_str!("../../../../packaging/systemd/servos-agent.service");

/// Prints, one per line: the user id, the machine, whether systemd runs,
/// the agent binary's path and the state directory.
pub fn facts_command() -> String {
    format!(
        "id -u; uname -m; if [ -d /run/systemd/system ]; then echo systemd; else echo none; fi; \
         printf '%s\\n' \"${{SERVOS_AGENT_BIN:-{DEFAULT_BIN}}}\" \"${{SERVOS_AGENT_STATE_DIR:-{DEFAULT_STATE_DIR}}}\""
    )
}

/// What [`facts_command`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFacts {
    /// The SSH user is root (else commands go through `sudo -n`).
    pub root: bool,
    /// `uname -m`.
    pub machine: String,
    /// systemd runs the server.
    pub systemd: bool,
    /// Where the binary goes.
    pub bin: String,
    /// Where the state lives.
    pub state_dir: String,
}

impl ServerFacts {
    /// Reads [`facts_command`]'s output.
    pub fn parse(output: &str) -> Option<Self> {
        let mut lines = output.lines().map(str::trim);
        Some(Self {
            root: lines.next()? == "0",
            machine: lines.next()?.to_owned(),
            systemd: lines.next()? == "systemd",
            bin: absolute(lines.next()?)?,
            state_dir: absolute(lines.next()?)?,
        })
    }

    /// `command` as the server should run it: through `sudo -n` unless the
    /// SSH user is root.
    pub fn privileged(&self, command: &str) -> String {
        if self.root {
            command.to_owned()
        } else {
            format!("sudo -n sh -c {}", quote(command))
        }
    }
}

/// `path` when it is an absolute path without surprises.
fn absolute(path: &str) -> Option<String> {
    let plain = path.starts_with('/')
        && !path.split('/').any(|part| part == "..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    plain.then(|| path.to_owned())
}

/// Makes the `servos` system user (when missing) and the state directory.
pub fn prepare_command(state_dir: &str) -> String {
    format!(
        "getent passwd servos >/dev/null || useradd --system --user-group --no-create-home \
         --home-dir /nonexistent --shell /usr/sbin/nologin servos; \
         getent passwd servos >/dev/null && mkdir -p {dir} && chmod 0700 {dir}",
        dir = quote(state_dir)
    )
}

/// Prints the SHA-256 of the file at `path` (hex).
pub fn checksum_command(path: &str) -> String {
    format!("sha256sum -- {} | cut -d' ' -f1", quote(path))
}

/// Exits 0 when the state directory holds an enrollment.
pub fn enrolled_command(bin: &str, state_dir: &str) -> String {
    format!(
        "test -s {}/settings.json && {} status --state-dir {} >/dev/null",
        quote(state_dir),
        quote(bin),
        quote(state_dir)
    )
}

/// Enrolls with the token on standard input.
pub fn join_command(bin: &str, state_dir: &str, api: &str, pin: &str) -> String {
    format!(
        "{} join --api {} --pin {} --token-stdin --state-dir {}",
        quote(bin),
        quote(api),
        quote(pin),
        quote(state_dir)
    )
}

/// The systemd unit for these paths.
pub fn unit(bin: &str, state_dir: &str) -> String {
    UNIT.replace(DEFAULT_BIN, bin)
        .replace(DEFAULT_STATE_DIR, state_dir)
}

/// (Re)starts the agent under systemd.
pub fn start_systemd_command() -> &'static str {
    "systemctl daemon-reload && systemctl enable servos-agent && systemctl restart servos-agent"
}

/// (Re)starts the agent under its own supervisor, detached from the
/// session: stops a supervisor started before (and waits for it), then
/// starts one whose pid is kept in the state directory. The supervisor is
/// a simple command sent to the background, so the shell keeps none of
/// the session's descriptors open behind it and the session ends.
pub fn start_supervised_command(bin: &str, state_dir: &str) -> String {
    let dir = quote(state_dir);
    format!(
        "pidfile={dir}/supervise.pid; \
         if [ -s \"$pidfile\" ] && kill -0 \"$(cat \"$pidfile\")\" 2>/dev/null; then \
           kill -TERM \"$(cat \"$pidfile\")\"; \
           for _ in $(seq 100); do kill -0 \"$(cat \"$pidfile\")\" 2>/dev/null || break; sleep 0.1; done; \
         fi; \
         cd / || exit 1; \
         setsid nohup {bin} supervise --state-dir {dir} < /dev/null >> {dir}/agent.log 2>&1 & \
         echo $! > \"$pidfile\"",
        bin = quote(bin)
    )
}

/// Prints the agent's last `lines` log lines: systemd's journal, or the
/// file its supervisor writes.
pub fn log_tail_command(facts: &ServerFacts, lines: usize) -> String {
    if facts.systemd {
        format!("journalctl -u servos-agent -n {lines} --no-pager")
    } else {
        format!("tail -n {lines} {}/agent.log", quote(&facts.state_dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_read_and_odd_paths_refused() {
        let facts = ServerFacts::parse(
            "0\nx86_64\nnone\n/usr/local/bin/servos-agent\n/var/lib/servos-agent\n",
        )
        .expect("facts");
        assert!(facts.root && !facts.systemd);
        assert_eq!(facts.privileged("true"), "true");
        let user = ServerFacts::parse("1000\nx86_64\nsystemd\n/opt/a\n/srv/b\n").expect("facts");
        assert_eq!(user.privileged("id -u"), "sudo -n sh -c 'id -u'");
        assert!(ServerFacts::parse("0\nx86_64\nnone\nrelative\n/srv/b\n").is_none());
        assert!(ServerFacts::parse("0\nx86_64\nnone\n/a/../b\n/srv/b\n").is_none());
        assert!(ServerFacts::parse("0\nx86_64\n").is_none());
    }

    #[test]
    fn the_unit_runs_the_installed_paths() {
        let unit = unit("/opt/servos/bin/servos-agent", "/srv/agent");
        assert!(unit.contains("ExecStart=/opt/servos/bin/servos-agent run --state-dir /srv/agent"));
        assert!(unit.contains("ReadWritePaths=/srv/agent"));
        assert!(!unit.contains(DEFAULT_STATE_DIR));
    }
}
