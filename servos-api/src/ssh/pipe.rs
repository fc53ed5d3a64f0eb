//! A command's output streamed into other commands' input, on other
//! servers, through the API's sessions: `docker save` on a builder into
//! `docker load` on each run server, with nothing written to disk on the
//! way. The output is read once and written to every receiver; each
//! receiver's own messages are drained as they come, so a long stream
//! never stalls on an unread channel.

use std::time::Duration;

use futures_util::future::join_all;
use russh::ChannelMsg;

use super::{Output, Session, SshError};

/// How a stream between commands ended.
#[derive(Debug)]
pub struct Piped {
    /// The sending command: exit status and error output (its standard
    /// output went to the receivers).
    pub source: Output,
    /// Each receiving command, in the order given.
    pub sinks: Vec<Output>,
    /// Bytes streamed.
    pub bytes: u64,
}

impl Session {
    /// Runs `command` here and writes its standard output into the
    /// standard input of each `(session, command)` of `sinks`, within
    /// `limit` in all.
    pub async fn pipe(
        &self,
        command: &str,
        sinks: &[(&Session, &str)],
        limit: Duration,
    ) -> Result<Piped, SshError> {
        tokio::time::timeout(limit, self.pipe_unbounded(command, sinks))
            .await
            .map_err(|_| SshError::Timeout("streaming between servers", limit))?
    }

    async fn pipe_unbounded(
        &self,
        command: &str,
        sinks: &[(&Session, &str)],
    ) -> Result<Piped, SshError> {
        let protocol = |e: russh::Error| SshError::Protocol(e.to_string());
        let mut readers = Vec::with_capacity(sinks.len());
        let mut writers = Vec::with_capacity(sinks.len());
        for (session, sink_command) in sinks {
            let channel = session
                .handle
                .channel_open_session()
                .await
                .map_err(protocol)?;
            channel.exec(true, *sink_command).await.map_err(protocol)?;
            let (reader, writer) = channel.split();
            readers.push(reader);
            writers.push(writer);
        }
        let mut source = self.handle.channel_open_session().await.map_err(protocol)?;
        source.exec(true, command).await.map_err(protocol)?;
        source.eof().await.map_err(protocol)?;

        let send = async {
            let mut sent = Output {
                exit_status: None,
                stdout: Vec::new(),
                stderr: Vec::new(),
            };
            let mut bytes = 0u64;
            while let Some(msg) = source.wait().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        for writer in &writers {
                            writer.data(&data[..]).await.map_err(protocol)?;
                        }
                        bytes += data.len() as u64;
                    }
                    ChannelMsg::ExtendedData { data, .. } => sent.stderr.extend_from_slice(&data),
                    ChannelMsg::ExitStatus { exit_status } => sent.exit_status = Some(exit_status),
                    _ => {}
                }
            }
            for writer in &writers {
                writer.eof().await.map_err(protocol)?;
            }
            Ok::<_, SshError>((sent, bytes))
        };
        let receive = join_all(readers.iter_mut().map(|reader| async move {
            let mut received = Output {
                exit_status: None,
                stdout: Vec::new(),
                stderr: Vec::new(),
            };
            while let Some(msg) = reader.wait().await {
                match msg {
                    ChannelMsg::Data { data } => received.stdout.extend_from_slice(&data),
                    ChannelMsg::ExtendedData { data, .. } => {
                        received.stderr.extend_from_slice(&data);
                    }
                    ChannelMsg::ExitStatus { exit_status } => {
                        received.exit_status = Some(exit_status);
                    }
                    _ => {}
                }
            }
            received
        }));
        let (sent, sinks) = tokio::join!(send, receive);
        let (source, bytes) = sent?;
        Ok(Piped {
            source,
            sinks,
            bytes,
        })
    }
}
