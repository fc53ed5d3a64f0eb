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
