//! Route switches that lose no connection. Caddy applies every
//! configuration change by opening new listening sockets beside the old
//! ones (`SO_REUSEPORT`) and then closing the old ones; Linux resets the
//! connections still waiting in a closed socket's accept queue ("connection
//! reset by peer" for a visitor arriving just then) unless
//! `net.ipv4.tcp_migrate_req` (Linux 5.14 and later) hands them to the
//! socket left open on the same port. ServOS turns it on in the server's
//! network namespace before every change it makes to the proxy, so nothing
//! needs persisting: a rebooted server gets it back before its next switch.

use super::ProxyError;
use crate::ssh::Session;

/// Turns the setting on when it is off; prints why it cannot be on, or
/// nothing when it is.
const SCRIPT: &str = r#"f=/proc/sys/net/ipv4/tcp_migrate_req
if [ ! -e "$f" ]; then
    echo "this kernel lacks net.ipv4.tcp_migrate_req (Linux 5.14 or later has it)"
    exit 0
fi
[ "$(cat "$f")" = 1 ] && exit 0
{ echo 1 >"$f"; } 2>/dev/null
[ "$(cat "$f")" = 1 ] || echo "net.ipv4.tcp_migrate_req is 0 and this user cannot set it"
"#;

/// Makes closing listeners hand their waiting connections over on the
/// server. `Some(why)` when that cannot be done: the proxy still works,
/// but a switch may reset connections that arrive during it.
pub async fn ensure(session: &Session) -> Result<Option<String>, ProxyError> {
    let output = session.run(SCRIPT, None).await?;
    let why = if output.exit_status == Some(0) {
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    } else {
        format!(
            "checking net.ipv4.tcp_migrate_req failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
    };
    Ok((!why.is_empty())
        .then(|| format!("a route switch may reset connections that arrive during it: {why}")))
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::SCRIPT;

    /// What the script prints in a fresh network namespace (where the
    /// setting starts at 0), run as root or as `nobody`, followed by the
    /// setting's value afterwards.
    fn run_in_fresh_namespace(as_nobody: bool) -> String {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test needs root (it creates a network namespace with unshare)"
        );
        let script = format!("{SCRIPT}\ncat /proc/sys/net/ipv4/tcp_migrate_req");
        let mut command = Command::new("unshare");
        command.arg("--net");
        if as_nobody {
            command.args([
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ]);
        }
        let output = command
            .args(["sh", "-c", &script])
            .output()
            .expect("unshare (util-linux) runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    #[test]
    fn root_turns_the_handover_on_silently() {
        assert_eq!(run_in_fresh_namespace(false), "1\n");
    }

    #[test]
    fn a_user_who_cannot_set_it_is_told_why() {
        assert_eq!(
            run_in_fresh_namespace(true),
            "net.ipv4.tcp_migrate_req is 0 and this user cannot set it\n0\n"
        );
    }
}
