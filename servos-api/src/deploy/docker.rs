//! Docker command lines a deployment runs on a server, the function the
//! steps run them through ([`run`], which times them), and the parsing of
//! what they print. Everything put into a command is either checked to be plain
//! (image references, digests, names, paths) or shell-quoted (labels,
//! health-check arguments); no secret value is ever part of one.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::apps::validate::{Limits, RestartPolicy};
use crate::ssh::shell::quote;
use crate::ssh::{Output, Session, SshError};

use super::plan::RegistryLogin;
use super::remote::{self, SECRETS_DIR};
use super::timings::{self, Phase};
use super::StepError;

/// Labels ServOS puts on every container it starts.
pub const APP_LABEL: &str = "servos.app";
/// The deployment that started the container.
pub const DEPLOYMENT_LABEL: &str = "servos.deployment";
/// The deployment target (names the container's secret files).
pub const TARGET_LABEL: &str = "servos.target";

/// Runs Docker command line `command` on the server, writing `stdin` to it;
/// its wall time (one SSH channel round trip included) is the server's
/// Docker time in the share it runs in.
pub async fn run(
    session: &Session,
    command: &str,
    stdin: Option<&[u8]>,
) -> Result<Output, SshError> {
    timings::timed(Phase::Docker, session.run(command, stdin)).await
}

/// Logs in to the registry of `login` with a private `DOCKER_CONFIG`
/// folder `config` (made 0700 under the secrets folder); the password goes
/// to `docker login`'s input. Pair with [`logout`], whatever happens between.
pub async fn login(
    session: &Session,
    login: &RegistryLogin,
    config: &str,
) -> Result<(), StepError> {
    session.ensure_private_dir(SECRETS_DIR).await?;
    session.ensure_private_dir(config).await?;
    run(
        session,
        &format!(
            "DOCKER_CONFIG={config} docker login --username {} --password-stdin {}",
            quote(&login.username),
            quote(&login.host)
        ),
        Some(login.password.expose().as_bytes()),
    )
    .await?
    .success("docker login")?;
    Ok(())
}

/// Logs out of the registry of `login` and removes `config`.
pub async fn logout(
    session: &Session,
    login: &RegistryLogin,
    config: &str,
) -> Result<(), StepError> {
    let logout = format!(
        "DOCKER_CONFIG={config} docker logout {} >/dev/null 2>&1",
        quote(&login.host)
    );
    let _ = run(session, &logout, None).await;
    remote::remove_dir(session, config).await?;
    Ok(())
}

/// How Docker says that a write found no room.
const NO_SPACE: &str = "no space left on device";

/// Why `command` failed on a server, from its error output: one that ran
/// out of room says first that the server's disk is full.
pub fn failure_reason(command: &str, stderr: &str) -> String {
    if stderr.contains(NO_SPACE) {
        format!("the server's disk is full: {command} failed: {stderr}")
    } else {
        format!("{command} failed: {stderr}")
    }
}

/// A failed `docker pull` as a step's failure: one that ran out of room
/// says first that the server's disk is full, then Docker's own words.
pub fn pull_failure(error: SshError) -> StepError {
    match error {
        SshError::RemoteFailed { stderr, .. } if stderr.contains(NO_SPACE) => {
            StepError::failed(failure_reason("docker pull", &stderr))
        }
        other => other.into(),
    }
}

/// True for what `docker run` may be given as the image: a reference as the
/// application stores it (already validated), `repo@sha256:<hex>` or an
/// image id `sha256:<hex>`.
pub fn is_plain_image(image: &str) -> bool {
    !image.is_empty()
        && image.len() <= 600
        && image
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b))
        && !image.starts_with('-')
}

fn is_sha256(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The command that prints an image's repository digests (one per line)
/// and then its id.
pub fn inspect_image_command(image: &str) -> String {
    format!(
        "docker image inspect --format '{{{{range .RepoDigests}}}}{{{{println .}}}}{{{{end}}}}{{{{.Id}}}}' {image}"
    )
}

/// What to run for `requested`, from `inspect_image_command`'s output: the
/// repository digest of the requested repository (`repo@sha256:...`, the
/// same on every server), else any repository digest, else the image id
/// (`sha256:...`, local to the server).
pub fn resolved_image(requested: &str, output: &str) -> Option<String> {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let (id, digests) = lines.split_last()?;
    let valid = |digest: &&&str| {
        digest
            .split_once('@')
            .is_some_and(|(repo, sha)| is_sha256(sha) && is_plain_image(repo))
    };
    let repository = requested.split('@').next().unwrap_or(requested);
    let repository = match repository.rfind(':') {
        Some(colon) if !repository[colon..].contains('/') => &repository[..colon],
        _ => repository,
    };
    let same_repository = digests
        .iter()
        .filter(valid)
        .find(|d| d.split('@').next() == Some(repository));
    match same_repository.or_else(|| digests.iter().find(valid)) {
        Some(digest) => Some((*digest).to_owned()),
        None => is_sha256(id).then(|| (*id).to_owned()),
    }
}

/// Everything `docker run` is given.
#[derive(Debug)]
pub struct RunSpec<'a> {
    /// Container name.
    pub name: &'a str,
    /// Path of the env file on the server.
    pub env_file: &'a str,
    /// `servos.app`, `servos.deployment`, `servos.target`.
    pub ids: (&'a str, &'a str, &'a str),
    /// The application's own labels.
    pub labels: &'a BTreeMap<String, String>,
    /// Restart policy.
    pub restart: &'a RestartPolicy,
    /// Resource limits.
    pub limits: &'a Limits,
    /// The port the container listens on.
    pub container_port: u16,
    /// The server's loopback port it is published on (see `ports.rs`).
    pub host_port: u16,
    /// Directory of file secrets, mounted read-only at `/run/secrets`.
    pub secrets_dir: Option<&'a str>,
    /// For an application on the mesh: its address on the mesh network.
    pub mesh_ip: Option<Ipv4Addr>,
    /// The image (checked by [`is_plain_image`]).
    pub image: &'a str,
}

/// The `docker run -d` command line of `spec`.
pub fn run_command(spec: &RunSpec<'_>) -> String {
    let (app, deployment, target) = spec.ids;
    let mut parts: Vec<String> = vec![
        "docker run -d".into(),
        format!("--name {}", quote(spec.name)),
        format!("--env-file {}", quote(spec.env_file)),
        format!("--label {APP_LABEL}={}", quote(app)),
        format!("--label {DEPLOYMENT_LABEL}={}", quote(deployment)),
        format!("--label {TARGET_LABEL}={}", quote(target)),
    ];
    for (key, value) in spec.labels {
        parts.push(format!("--label {}", quote(&format!("{key}={value}"))));
    }
    parts.push(format!("--restart {}", quote(&spec.restart.to_string())));
    if let Some(bytes) = spec.limits.memory_bytes {
        parts.push(format!("--memory {bytes}b"));
    }
    if let Some(milli) = spec.limits.milli_cpus {
        parts.push(format!("--cpus {}.{:03}", milli / 1000, milli % 1000));
    }
    parts.push(format!(
        "-p 127.0.0.1:{}:{}",
        spec.host_port, spec.container_port
    ));
    if let Some(dir) = spec.secrets_dir {
        parts.push(format!("-v {}:/run/secrets:ro", quote(dir)));
    }
    if let Some(ip) = spec.mesh_ip {
        parts.push(format!("--network {} --ip {ip}", super::mesh_net::NETWORK));
    }
    parts.push(format!("-- {}", spec.image));
    parts.join(" ")
}

/// Prints the host ports of every ServOS container (running or not), one
/// a line: those it asked for and those it has.
pub fn host_ports_command() -> String {
    let ports = "{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{println .HostPort}}{{end}}{{end}}\
                 {{range $p, $b := .NetworkSettings.Ports}}{{range $b}}{{println .HostPort}}{{end}}{{end}}";
    format!(
        "docker ps -aq --filter label={APP_LABEL} | xargs -r docker container inspect --format '{ports}'"
    )
}

/// Prints the application id of every ServOS container of the server
/// (running or stopped), each once, one a line.
pub fn app_ids_command() -> String {
    format!("docker ps -a --filter label={APP_LABEL} --format '{{{{.Label \"{APP_LABEL}\"}}}}' | sort -u")
}

/// The loopback port from `docker port` output (`127.0.0.1:49153`).
pub fn parse_port(output: &str) -> Option<u16> {
    output
        .lines()
        .find_map(|line| line.trim().strip_prefix("127.0.0.1:"))
        .and_then(|port| port.parse().ok())
        .filter(|port| *port != 0)
}

/// A health-check command run inside `container`, limited to `timeout_secs`.
pub fn exec_command(container: &str, args: &[String], timeout_secs: u32) -> String {
    let argv: Vec<Cow<'_, str>> = args.iter().map(|a| quote(a)).collect();
    format!(
        "timeout {timeout_secs} docker exec {} {}",
        quote(container),
        argv.join(" ")
    )
}

/// One container of an application, as `list_command` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Name.
    pub name: String,
    /// Its deployment.
    pub deployment: String,
    /// Its target (names its secret files).
    pub target: String,
}

/// Lists every container (running or not) of application `app_id`.
pub fn list_command(app_id: &str) -> String {
    format!(
        "docker ps -a --no-trunc --filter label={APP_LABEL}={} --format '{{{{.Names}}}}\t{{{{.Label \"{DEPLOYMENT_LABEL}\"}}}}\t{{{{.Label \"{TARGET_LABEL}\"}}}}'",
        quote(app_id)
    )
}

/// Parses `list_command`'s output, skipping lines it cannot trust.
pub fn parse_list(output: &str) -> Vec<Listed> {
    output
        .lines()
        .filter_map(|line| {
            let mut fields = line.trim().split('\t');
            let (name, deployment, target) = (fields.next()?, fields.next()?, fields.next()?);
            let plain = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            };
            (plain(name) && plain(deployment) && plain(target)).then(|| Listed {
                name: name.to_owned(),
                deployment: deployment.to_owned(),
                target: target.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_resolve_to_digests() {
        let id = format!("sha256:{}", "a".repeat(64));
        let digest = format!("ghcr.io/acme/web@sha256:{}", "b".repeat(64));
        let other = format!("mirror.local/acme/web@sha256:{}", "c".repeat(64));
        let output = format!("{other}\n{digest}\n{id}\n");
        assert_eq!(
            resolved_image("ghcr.io/acme/web:1.2", &output).as_deref(),
            Some(digest.as_str())
        );
        assert_eq!(
            resolved_image("localhost:5000/x", &format!("{other}\n{id}")).as_deref(),
            Some(other.as_str())
        );
        assert_eq!(
            resolved_image("busybox:1", &id).as_deref(),
            Some(id.as_str())
        );
        assert_eq!(resolved_image("busybox:1", "garbage"), None);
        assert_eq!(resolved_image("busybox:1", ""), None);
    }

    #[test]
    fn run_command_has_every_setting() {
        let labels = BTreeMap::from([("team".to_owned(), "a b".to_owned())]);
        let command = run_command(&RunSpec {
            name: "servos-web-1",
            env_file: "/var/lib/servos/secrets/t.env",
            ids: ("app", "dep", "tgt"),
            labels: &labels,
            restart: &RestartPolicy::UnlessStopped,
            limits: &Limits {
                memory_bytes: Some(64 << 20),
                milli_cpus: Some(1500),
            },
            container_port: 8080,
            host_port: 20001,
            secrets_dir: Some("/run/servos/secrets/tgt"),
            mesh_ip: Some(Ipv4Addr::new(10, 210, 129, 12)),
            image: "busybox:1",
        });
        assert_eq!(
            command,
            "docker run -d --name servos-web-1 --env-file /var/lib/servos/secrets/t.env \
             --label servos.app=app --label servos.deployment=dep --label servos.target=tgt \
             --label 'team=a b' --restart unless-stopped --memory 67108864b --cpus 1.500 \
             -p 127.0.0.1:20001:8080 -v /run/servos/secrets/tgt:/run/secrets:ro \
             --network servos-mesh --ip 10.210.129.12 -- busybox:1"
        );
    }

    #[test]
    fn a_pull_without_room_says_the_disk_is_full() {
        let failed = |stderr: &str| SshError::RemoteFailed {
            step: "docker pull",
            status: Some(1),
            stderr: stderr.to_owned(),
        };
        let full = pull_failure(failed(
            "write /d/tmp/GetImageBlob1: no space left on device",
        ));
        assert_eq!(
            full.to_string(),
            "the server's disk is full: docker pull failed: write /d/tmp/GetImageBlob1: no space left on device"
        );
        let other = pull_failure(failed("manifest unknown"));
        assert_eq!(
            other.to_string(),
            "docker pull failed on the server (exit status Some(1)): manifest unknown"
        );
    }

    #[test]
    fn outputs_parse() {
        assert_eq!(parse_port("127.0.0.1:49153\n"), Some(49153));
        assert_eq!(parse_port("0.0.0.0:1\n"), None);
        let listed = parse_list("servos-web-1\tdep\ttgt\nbad name\td\tt\n");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].target, "tgt");
        assert_eq!(
            exec_command("c", &["pg_isready".into(), "-h".into(), "a b".into()], 3),
            "timeout 3 docker exec c pg_isready -h 'a b'"
        );
    }
}
