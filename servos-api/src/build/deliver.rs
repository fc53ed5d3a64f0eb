//! Getting a built image to the run servers: pushed to the application's
//! registry from the builder (the servers then pull it as any image), or,
//! without a registry, `docker save` on the builder streamed into `docker
//! load` on every server that lacks it, through the API's SSH sessions
//! (nothing of the image is written on the API's host).

use std::time::Duration;

use crate::deploy::docker;
use crate::deploy::plan::RegistryLogin;
use crate::deploy::remote::SECRETS_DIR;
use crate::deploy::StepError;
use crate::ssh::{Session, SshError};

/// Pushes `image` from the builder with a login that lives only for it,
/// in `{SECRETS_DIR}/{job}.build.docker`.
pub async fn push(
    builder: &Session,
    login: &RegistryLogin,
    job: &str,
    image: &str,
    limit: Duration,
) -> Result<(), StepError> {
    let config = format!("{SECRETS_DIR}/{job}.build.docker");
    let pushed = async {
        docker::login(builder, login, &config).await?;
        let output = builder
            .run_streaming_within(
                limit,
                &format!("DOCKER_CONFIG={config} docker push -q {image}"),
                None,
                |_, _| {},
            )
            .await?;
        if output != Some(0) {
            return Err(StepError::failed(format!(
                "docker push {image} failed on the builder (exit status {output:?})"
            )));
        }
        Ok(())
    }
    .await;
    docker::logout(builder, login, &config).await?;
    pushed
}

/// True when the server's Docker has `image`.
pub async fn has_image(session: &Session, image: &str) -> Result<bool, SshError> {
    let output = session
        .run(
            &format!("docker image inspect {image} >/dev/null 2>&1"),
            None,
        )
        .await?;
    Ok(output.exit_status == Some(0))
}

/// Streams `image` from the builder into every server of `receivers`
/// (name, session) at once; returns the bytes streamed.
pub async fn save_load(
    builder: &Session,
    receivers: &[(&str, &Session)],
    image: &str,
    limit: Duration,
) -> Result<u64, StepError> {
    let load = "docker load -q";
    let sinks: Vec<(&Session, &str)> = receivers.iter().map(|(_, s)| (*s, load)).collect();
    let piped = builder
        .pipe(&format!("docker save {image}"), &sinks, limit)
        .await?;
    if piped.source.exit_status != Some(0) {
        return Err(StepError::failed(format!(
            "docker save {image} failed on the builder: {}",
            String::from_utf8_lossy(&piped.source.stderr).trim()
        )));
    }
    let failed: Vec<String> = receivers
        .iter()
        .zip(&piped.sinks)
        .filter(|(_, out)| out.exit_status != Some(0))
        .map(|((name, _), out)| {
            let stderr = String::from_utf8_lossy(&out.stderr);
            format!(
                "{name}: {}",
                docker::failure_reason("docker load", stderr.trim())
            )
        })
        .collect();
    if !failed.is_empty() {
        return Err(StepError::failed(failed.join("; ")));
    }
    Ok(piped.bytes)
}
