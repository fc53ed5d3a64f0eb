//! The mesh classifier seen from outside the agent: the programs on an
//! interface, and what the agent reports of it in `status.json`.

use std::time::Duration;

use aya::programs::{SchedClassifier, TcAttachType};
use servos_agent::state::{ClassifierStatus, StateDir};
use servos_common::protocol::PolicyCounters;

use super::netns::NetNs;
use super::wait_until;

/// How long a change may take to show in `status.json` (a heartbeat every 5 s).
const STATUS_WAIT: Duration = Duration::from_secs(30);

/// How many programs `interface` in `netns` runs at ingress and at egress:
/// TCX links (asked of the kernel: iproute2 6.1 and bpftool 7.1 do not list
/// them) and cls_bpf filters (listed by `tc`).
pub fn programs_attached(netns: &NetNs, interface: &str) -> [usize; 2] {
    [
        (TcAttachType::Ingress, "ingress"),
        (TcAttachType::Egress, "egress"),
    ]
    .map(|(attach_type, direction)| {
        let name = interface.to_owned();
        let tcx = netns.run_inside(move || {
            SchedClassifier::query_tcx(&name, attach_type)
                .map(|(_, programs)| programs.len())
                .unwrap_or_else(|err| panic!("listing the TCX programs of {name}: {err}"))
        });
        let filters = netns.output(
            "tc",
            &["filter", "show", "dev", interface, direction],
            "iproute2",
        );
        let netlink = filters
            .lines()
            .filter(|line| line.contains("servos_classify"))
            .count();
        tcx + netlink
    })
}

/// Waits until the running agent's `status.json` shows a classifier for
/// which `condition` holds, and returns it.
pub fn wait_for_classifier(
    state: &StateDir,
    what: &str,
    condition: impl Fn(&ClassifierStatus) -> bool,
) -> ClassifierStatus {
    wait_until(what, STATUS_WAIT, || match state.status() {
        Ok(status) if condition(&status.classifier) => Ok(status.classifier),
        Ok(status) => Err(format!("{:?}", status.classifier)),
        Err(err) => Err(err.to_string()),
    })
}

/// The counters in `classifier`, failing the test when the agent could not read them.
pub fn counters(classifier: &ClassifierStatus) -> &PolicyCounters {
    classifier
        .counters
        .as_ref()
        .unwrap_or_else(|| panic!("the agent could not read the classifier's counters"))
}

/// Packets rule `rule_id` allowed (0 for a rule without counters).
pub fn rule_packets(classifier: &ClassifierStatus, rule_id: u32) -> u64 {
    classifier
        .counters
        .as_ref()
        .and_then(|counters| counters.rules.iter().find(|rule| rule.rule_id == rule_id))
        .map_or(0, |rule| rule.packets)
}
