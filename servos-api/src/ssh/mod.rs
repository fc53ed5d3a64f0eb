//! The SSH layer on russh: connects with a stored key, verifies the host
//! key against the pin inside the handshake (before any credential is
//! offered), and runs commands with timeouts, feeding secrets on stdin and
//! streaming their output; files are written over the channel
//! ([`remote_file`]) and HTTP reaches the server's loopback through it
//! ([`tunnel_http`]).

pub mod host_key;
pub mod key;
pub mod pipe;
pub mod remote_file;
pub mod shell;
pub mod tunnel_http;

use std::sync::Arc;
use std::time::Duration;

use russh::client;
use russh::keys::PrivateKeyWithHashAlg;
use russh::ChannelMsg;
use servos_common::secret::SecretText;

use host_key::PinCheck;

/// Where and as whom to connect.
#[derive(Debug)]
pub struct Target {
    /// Host name or IP.
    pub address: String,
    /// SSH port.
    pub port: u16,
    /// Remote user.
    pub user: String,
    /// Private key (decoded in memory only).
    pub private_key: SecretText,
    /// Its passphrase.
    pub passphrase: Option<SecretText>,
    /// Pinned `SHA256:` fingerprint; `None` trusts the first key (commissioning).
    pub pinned: Option<String>,
}

/// Time limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect, handshake and authentication.
    pub connect: Duration,
    /// One command.
    pub command: Duration,
}

/// Why an SSH operation failed; never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The server presented another host key than the pinned one.
    #[error("host key changed: pinned {pinned}, presented {presented}")]
    HostKeyMismatch {
        /// The pin.
        pinned: String,
        /// What the server presented.
        presented: String,
    },
    /// TCP connection failed.
    #[error("cannot connect to {address}: {reason}")]
    Unreachable {
        /// `host:port`.
        address: String,
        /// The OS error.
        reason: String,
    },
    /// The server refused the key for this user.
    #[error("the server refused the key for user {0}")]
    AuthenticationFailed(String),
    /// The stored key could not be decoded.
    #[error("the stored SSH key cannot be used: {0}")]
    Key(#[from] key::SshKeyError),
    /// A step took longer than its limit.
    #[error("{0} timed out after {1:?}")]
    Timeout(&'static str, Duration),
    /// A remote step exited with a failure.
    #[error("{step} failed on the server (exit status {status:?}): {stderr}")]
    RemoteFailed {
        /// What was being done.
        step: &'static str,
        /// Its exit status, if the server sent one.
        status: Option<u32>,
        /// Its error output.
        stderr: String,
    },
    /// A remote path the layer refuses to put into a command.
    #[error(
        "refused remote path {0:?}: only absolute paths of letters, digits, '.', '_', '-' and '/'"
    )]
    InvalidPath(String),
    /// Any other protocol failure.
    #[error("SSH failed: {0}")]
    Protocol(String),
}

/// Which stream of a remote command a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// The result of a remote command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit status (`None` if the server sent none).
    pub exit_status: Option<u32>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

impl Output {
    /// The output when the command exited 0, else [`SshError::RemoteFailed`] naming `step`.
    pub fn success(self, step: &'static str) -> Result<Output, SshError> {
        if self.exit_status == Some(0) {
            Ok(self)
        } else {
            Err(SshError::RemoteFailed {
                step,
                status: self.exit_status,
                stderr: String::from_utf8_lossy(&self.stderr).trim().to_owned(),
            })
        }
    }
}

/// An authenticated connection, reused for the steps of one job.
pub struct Session {
    handle: client::Handle<PinCheck>,
    fingerprint: String,
    timeouts: Timeouts,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Decodes the target's private key on a blocking thread: opening a
/// passphrase-protected key runs bcrypt-pbkdf, which takes long enough to
/// stall every task of an async worker thread.
async fn decode_off_runtime(target: &Target) -> Result<russh::keys::PrivateKey, SshError> {
    if target.passphrase.is_none() {
        return Ok(key::decode(&target.private_key, None)?);
    }
    let (private_key, passphrase) = (target.private_key.clone(), target.passphrase.clone());
    tokio::task::spawn_blocking(move || key::decode(&private_key, passphrase.as_ref()))
        .await
        .map_err(|e| SshError::Protocol(format!("decoding the key stopped: {e}")))?
        .map_err(SshError::from)
}

/// Connects, verifies the host key, and authenticates.
pub async fn connect(target: &Target, timeouts: Timeouts) -> Result<Session, SshError> {
    let key = decode_off_runtime(target).await?;
    let address = format!("{}:{}", target.address, target.port);
    let check = PinCheck::new(target.pinned.clone());
    let presented = check.presented();
    let config = Arc::new(client::Config {
        inactivity_timeout: Some(timeouts.command),
        ..client::Config::default()
    });
    let connecting = async {
        let mut handle = client::connect(config, address.as_str(), check).await?;
        let hash = handle
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten();
        let auth = handle
            .authenticate_publickey(
                target.user.clone(),
                PrivateKeyWithHashAlg::new(Arc::new(key), hash),
            )
            .await?;
        Ok::<_, russh::Error>((handle, auth.success()))
    };
    let result = tokio::time::timeout(timeouts.connect, connecting)
        .await
        .map_err(|_| SshError::Timeout("connecting", timeouts.connect))?;
    let fingerprint = presented.get();
    match result {
        Ok((handle, true)) => Ok(Session {
            handle,
            fingerprint: fingerprint.unwrap_or_default(),
            timeouts,
        }),
        Ok((_, false)) => Err(SshError::AuthenticationFailed(target.user.clone())),
        Err(e) => Err(classify(e, &address, target.pinned.as_deref(), fingerprint)),
    }
}

fn classify(
    e: russh::Error,
    address: &str,
    pinned: Option<&str>,
    presented: Option<String>,
) -> SshError {
    if let (Some(pinned), Some(presented)) = (pinned, presented) {
        if pinned != presented {
            return SshError::HostKeyMismatch {
                pinned: pinned.to_owned(),
                presented,
            };
        }
    }
    match e {
        russh::Error::IO(io) => SshError::Unreachable {
            address: address.to_owned(),
            reason: io.to_string(),
        },
        other => SshError::Protocol(other.to_string()),
    }
}

impl Session {
    /// The host key fingerprint the server presented.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Runs `command` (no secrets in it: it is visible in the remote
    /// process list), writing `stdin` to it, and collects its output.
    pub async fn run(&self, command: &str, stdin: Option<&[u8]>) -> Result<Output, SshError> {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let exit_status = self
            .run_streaming(command, stdin, |stream, bytes| match stream {
                Stream::Stdout => stdout.extend_from_slice(bytes),
                Stream::Stderr => stderr.extend_from_slice(bytes),
            })
            .await?;
        Ok(Output {
            exit_status,
            stdout,
            stderr,
        })
    }

    /// Runs `command` like [`Session::run`], handing each chunk of output to
    /// `on_output` as it arrives; returns the exit status.
    pub async fn run_streaming(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        on_output: impl FnMut(Stream, &[u8]),
    ) -> Result<Option<u32>, SshError> {
        self.run_streaming_within(self.timeouts.command, command, stdin, on_output)
            .await
    }

    /// [`Session::run_streaming`] with a time limit of its own, for
    /// commands that take longer than most (builds).
    pub async fn run_streaming_within(
        &self,
        limit: Duration,
        command: &str,
        stdin: Option<&[u8]>,
        on_output: impl FnMut(Stream, &[u8]),
    ) -> Result<Option<u32>, SshError> {
        tokio::time::timeout(limit, self.run_unbounded(command, stdin, on_output))
            .await
            .map_err(|_| SshError::Timeout("command", limit))?
    }

    async fn run_unbounded(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        mut on_output: impl FnMut(Stream, &[u8]),
    ) -> Result<Option<u32>, SshError> {
        let protocol = |e: russh::Error| SshError::Protocol(e.to_string());
        let mut channel = self.handle.channel_open_session().await.map_err(protocol)?;
        channel.exec(true, command).await.map_err(protocol)?;
        if let Some(bytes) = stdin {
            channel.data(bytes).await.map_err(protocol)?;
        }
        channel.eof().await.map_err(protocol)?;
        let mut exit_status = None;
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => on_output(Stream::Stdout, &data),
                ChannelMsg::ExtendedData { data, .. } => on_output(Stream::Stderr, &data),
                ChannelMsg::ExitStatus {
                    exit_status: status,
                } => exit_status = Some(status),
                _ => {}
            }
        }
        Ok(exit_status)
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}
