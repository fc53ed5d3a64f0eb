//! `servos-agent status`: what the state directory says about the node and its running agent.
//!
//! The running agent rewrites `status.json` on every heartbeat; this reads
//! it with the enrollment and the applied configuration, so it works for
//! root and for the agent's user without talking to the agent.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::sys::signal::kill;
use nix::unistd::Pid;
use servos_common::protocol::{PolicyAction, TrafficCounter};

use crate::state::{AgentStatus, ClassifierStatus, StateDir, StateError};

/// The status report, as text.
pub fn report(state: &StateDir) -> Result<String, StateError> {
    let settings = state.settings()?;
    let config = state.config()?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "node:       {} ({})",
        config.node.name, settings.node_id
    );
    let _ = writeln!(out, "address:    {}", config.node.address);
    let _ = writeln!(out, "interface:  {}", settings.interface);
    let _ = writeln!(out, "public key: {}", config.node.public_key);
    let _ = writeln!(out, "api:        {}", settings.api_url);
    let _ = writeln!(out, "config:     version {} stored", config.version);
    match state.status() {
        Ok(status) if is_running(&status) => running(&mut out, &status),
        Ok(status) => {
            let _ = writeln!(
                out,
                "agent:      not running (last seen as pid {})",
                status.pid
            );
        }
        Err(_) => {
            let _ = writeln!(out, "agent:      not running (no status written yet)");
        }
    }
    Ok(out)
}

fn is_running(status: &AgentStatus) -> bool {
    i32::try_from(status.pid)
        .ok()
        .is_some_and(|pid| match kill(Pid::from_raw(pid), None) {
            Ok(()) => true,
            // Another user's process (root asking about the agent's, or the reverse) exists too.
            Err(err) => err == nix::errno::Errno::EPERM,
        })
}

fn running(out: &mut String, status: &AgentStatus) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "agent:      running, pid {}, backend {}, config version {} applied, seen {}s ago",
        status.pid,
        status.backend.as_str(),
        status.config_version,
        now.saturating_sub(status.updated_unix)
    );
    match &status.api_problem {
        None => {
            let _ = writeln!(out, "api state:  reachable");
        }
        Some(problem) => {
            let _ = writeln!(out, "api state:  {problem}");
        }
    }
    let _ = writeln!(out, "peers:      {}", status.peers.len());
    for peer in &status.peers {
        let handshake = peer
            .last_handshake_secs
            .map_or("never".to_owned(), |secs| format!("{secs}s ago"));
        let endpoint = peer
            .endpoint
            .map_or("(none)".to_owned(), |endpoint| endpoint.to_string());
        let _ = writeln!(
            out,
            "  {} {} endpoint {} handshake {} rx {} B tx {} B",
            if peer.name.is_empty() {
                "?"
            } else {
                &peer.name
            },
            peer.public_key,
            endpoint,
            handshake,
            peer.rx_bytes,
            peer.tx_bytes
        );
    }
    classifier(out, &status.classifier);
}

fn classifier(out: &mut String, classifier: &ClassifierStatus) {
    let _ = writeln!(
        out,
        "classifier: attached, pinned in {}",
        classifier.pin_dir.display()
    );
    match &classifier.policy {
        Some(policy) => {
            let _ = writeln!(
                out,
                "policy:     from config version {}, default {}, {} rules",
                policy.config_version,
                match policy.default_action {
                    PolicyAction::Allow => "allow",
                    PolicyAction::Deny => "deny",
                },
                policy.rules
            );
        }
        None => {
            let _ = writeln!(
                out,
                "policy:     unknown: no update completed since the start, or the last one failed (see the agent's log)"
            );
        }
    }
    let Some(counters) = &classifier.counters else {
        let _ = writeln!(out, "counters:   unreadable (see the agent's log)");
        return;
    };
    let _ = writeln!(
        out,
        "counters:   denied by default {}, allowed by default {}",
        traffic(counters.default_denied),
        traffic(counters.default_allowed)
    );
    for rule in &counters.rules {
        let _ = writeln!(
            out,
            "  rule {} allowed {}",
            rule.rule_id,
            traffic(TrafficCounter {
                packets: rule.packets,
                bytes: rule.bytes
            })
        );
    }
}

fn traffic(count: TrafficCounter) -> String {
    format!("{} packets ({} B)", count.packets, count.bytes)
}
