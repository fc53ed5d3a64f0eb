//! `servos-agent join`: enroll this server, keeping the key on the node and the token in the state directory.

use std::io::Read as _;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::Path;

use servos_common::protocol::{EnrollRequest, Enrollment};
use servos_common::secret::SecretText;
use servos_common::token::{self, ENROLLMENT_TOKEN_PREFIX};
use zeroize::Zeroizing;

use crate::api::{self, ApiClient, ApiError};
use crate::cli::JoinArgs;
use crate::facts;
use crate::state::{AgentSettings, StateDir, StateError};
use crate::tls::TrustAnchor;

/// Why `join` failed. Never carries the token.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// A command-line value is wrong.
    #[error("{0}")]
    Usage(String),
    /// The API refused or could not be reached.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The state directory could not be written.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Enrolls the node and stores what `run` needs; returns the enrollment.
pub async fn join(args: JoinArgs) -> Result<Enrollment, JoinError> {
    let url = api::parse_api_url(&args.api).map_err(|err| JoinError::Usage(err.to_string()))?;
    check_interface_name(&args.interface)?;
    let trust = trust_anchor(args.pin, args.ca.as_deref())?;
    let endpoint = args.endpoint.as_deref().map(resolve_endpoint).transpose()?;
    let token = enrollment_token(args.token_stdin, args.token)?;

    let state = StateDir::new(&args.state.state_dir);
    state.create()?;
    let keys = state.keys();
    let key = keys.pending_or_new()?;
    let public_key = key
        .public_key()
        .map_err(|err| JoinError::Usage(err.to_string()))?;
    let request = EnrollRequest {
        public_key,
        hostname: facts::hostname(),
        kernel: facts::kernel_release(),
        backend: facts::probe_backend(),
        listen_port: args.listen_port,
        endpoint,
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let client = ApiClient::new(url.as_str(), &trust, &token)
        .map_err(|err| JoinError::Usage(err.to_string()))?;
    let enrollment = client.enroll(&request).await?;
    if enrollment.config.node.public_key != public_key {
        return Err(ApiError::BadAnswer(
            "the enrollment names another public key than the one sent".to_owned(),
        )
        .into());
    }
    state.save_token(&enrollment.agent_token)?;
    keys.promote()?;
    state.save_settings(&AgentSettings {
        api_url: url.to_string(),
        trust,
        node_id: enrollment.node_id,
        interface: args.interface,
    })?;
    state.save_config(&enrollment.config)?;
    Ok(enrollment)
}

fn trust_anchor(
    pin: Option<crate::tls::SpkiPin>,
    ca: Option<&Path>,
) -> Result<TrustAnchor, JoinError> {
    match (pin, ca) {
        (Some(pin), None) => Ok(TrustAnchor::Pin { pin }),
        (None, Some(path)) => {
            let pem = std::fs::read_to_string(path)
                .map_err(|err| JoinError::Usage(format!("--ca {}: {err}", path.display())))?;
            let anchor = TrustAnchor::Ca { pem };
            crate::tls::client_config(&anchor)
                .map_err(|err| JoinError::Usage(format!("--ca {}: {err}", path.display())))?;
            Ok(anchor)
        }
        _ => Err(JoinError::Usage(
            "give exactly one of --pin and --ca".to_owned(),
        )),
    }
}

fn enrollment_token(from_stdin: bool, argument: Option<String>) -> Result<SecretText, JoinError> {
    let token = match argument {
        Some(token) => SecretText::new(token),
        None if from_stdin => {
            let mut text = Zeroizing::new(String::new());
            std::io::stdin().read_to_string(&mut text).map_err(|err| {
                JoinError::Usage(format!("cannot read the token from stdin: {err}"))
            })?;
            SecretText::new(text.trim().to_owned())
        }
        None => return Err(JoinError::Usage("give --token-stdin or --token".to_owned())),
    };
    if !token::is_well_formed(ENROLLMENT_TOKEN_PREFIX, token.expose()) {
        return Err(JoinError::Usage(format!(
            "the enrollment token is not a well-formed {ENROLLMENT_TOKEN_PREFIX}... token"
        )));
    }
    Ok(token)
}

fn resolve_endpoint(text: &str) -> Result<SocketAddr, JoinError> {
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            JoinError::Usage(format!("--endpoint {text:?} is not a reachable host:port"))
        })
}

/// Interface names: what Linux accepts, and never all digits (boringtun
/// reads an all-digit name as a file descriptor).
fn check_interface_name(name: &str) -> Result<(), JoinError> {
    let valid = !name.is_empty()
        && name.len() < 16
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(JoinError::Usage(format!(
            "--interface {name:?}: use 1 to 15 letters, digits, '-' or '_', not only digits"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_checked() {
        assert!(check_interface_name("servos0").is_ok());
        assert!(check_interface_name("7").is_err());
        assert!(check_interface_name("").is_err());
        assert!(check_interface_name("a-very-long-name-x").is_err());
        assert!(check_interface_name("eth0;rm").is_err());
    }

    #[test]
    fn tokens_must_be_enrollment_tokens_and_are_never_echoed() {
        let good = token::generate(ENROLLMENT_TOKEN_PREFIX).expect("rng");
        assert!(enrollment_token(false, Some(good.expose().to_owned())).is_ok());
        let agent = token::generate("agt_").expect("rng");
        let err = enrollment_token(false, Some(agent.expose().to_owned())).expect_err("refused");
        assert!(!err.to_string().contains(agent.expose()));
    }

    #[test]
    fn endpoints_must_resolve() {
        assert_eq!(
            resolve_endpoint("203.0.113.7:51820").expect("ip"),
            "203.0.113.7:51820".parse::<SocketAddr>().expect("addr")
        );
        assert!(resolve_endpoint("no port").is_err());
    }
}
