//! A host that drops off the network in the middle of a deployment (its
//! link cut while the new container's health is being checked): its server
//! fails with a clear reason within the SSH time limits, the other host's
//! success stands, and the aftermath holds once the link is back.

use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use super::{
    deployed_web_app, deploys_tweaked, leftover_secret_files, only_container, queue_deploy,
    set_image, target_ids, through_proxy, wait_for_target, DEPLOY_WITHIN,
};
use crate::both_backends;
use crate::deployments::finished;
use crate::harness::Backend;
use crate::hostile::aftermath::Aftermath;
use crate::hostile::report::{test_name, Scenario};

/// Sets the root side of `host`'s link up or down (`ip link set NAME up|down`).
pub(super) fn link(host: &servos_lab::Host, state: &str) {
    let out = Command::new("ip")
        .args(["link", "set", &host.name, state])
        .output()
        .expect("ip (Debian package iproute2) runs");
    assert!(
        out.status.success(),
        "ip link set {} {state}: {}",
        host.name,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sets the link back up when dropped, also when the test fails.
pub(super) struct LinkDown<'a>(pub(super) &'a servos_lab::Host);

impl Drop for LinkDown<'_> {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "set", &self.0.name, "up"])
            .status();
    }
}

async fn a_host_lost_mid_deploy_fails_alone(backend: Backend) {
    let mut scenario = Scenario::new(
        test_name(
            module_path!(),
            "a_host_lost_mid_deploy_fails_alone",
            backend,
        ),
        "one of two hosts' links set down while its new container is health-checked",
        "that host's server fails with a reason naming the lost connection, the other host \
         switches to the new version, no env file is left, then (link back up) the aftermath",
    );
    // A host that stops answering is given up on within the command limit.
    let (fx, svc) = deploys_tweaked(backend, 2, |config| {
        config.ssh_timeouts.command = std::time::Duration::from_secs(20);
    })
    .await;
    let deployer = fx.who.deployer_token.clone();
    let (kept, lost) = (&fx.hosts()[0], &fx.hosts()[1]);
    let app_id = deployed_web_app(&svc, &fx, "edge", "servos-test/web:1").await;

    set_image(&svc, &deployer, &app_id, "servos-test/slow:1").await;
    let id = queue_deploy(&svc, &deployer, &app_id).await;
    // Wait until the lost host's new container is being health-checked: its
    // env file is gone by then, as it must be right after `docker run`.
    let lost_server = fx.servers[1].clone();
    wait_for_target(&svc, &deployer, &id, Some(&lost_server), "checking").await;
    link(lost, "down");
    let restore = LinkDown(lost);
    let cut = Instant::now();

    let ended = finished(&svc, &deployer, &id, DEPLOY_WITHIN).await;
    scenario.figure(
        "link cut to the job's end",
        format!("{:.1?}", cut.elapsed()),
    );
    assert_eq!(ended["state"], "failed", "{ended}");
    let targets = ended["targets"].as_array().cloned().unwrap_or_default();
    let of = |server: &str| {
        targets
            .iter()
            .find(|t| t["server_id"] == server)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(of(&fx.servers[0])["state"], "succeeded", "{ended}");
    let failed = of(&lost_server);
    assert_eq!(failed["state"], "failed", "{ended}");
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(
        ["timed out", "cannot connect", "SSH failed", "disconnect"]
            .iter()
            .any(|clear| reason.contains(clear)),
        "the reason says the connection was lost: {reason}"
    );
    assert_eq!(
        leftover_secret_files(&target_ids(&ended)),
        Vec::<String>::new()
    );
    let serving = only_container(kept, &app_id);
    assert!(!serving.is_empty());
    assert_eq!(
        through_proxy(kept, "edge.servos.internal").await,
        Ok((200, "slow".to_owned())),
        "the other host switched to the new version"
    );
    drop(restore);
    Aftermath::of(&fx).app(&app_id).check(&mut scenario).await;
}

both_backends!(a_host_lost_mid_deploy_fails_alone);
