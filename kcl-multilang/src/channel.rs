//! The pipe to the daemon: one JSON message a line each way.

use crate::error::ChannelError;
use crate::message::{Incoming, Outgoing};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, Lines};

/// Reads [`Incoming`] lines and writes [`Outgoing`] lines.
pub(crate) struct Channel {
    lines: Lines<Box<dyn AsyncBufRead + Unpin + Send>>,
    output: Box<dyn AsyncWrite + Unpin + Send>,
}

impl Channel {
    pub(crate) fn new(
        input: Box<dyn AsyncBufRead + Unpin + Send>,
        output: Box<dyn AsyncWrite + Unpin + Send>,
    ) -> Self {
        Self {
            lines: input.lines(),
            output,
        }
    }

    /// The next message; `None` once the daemon closed the pipe. Empty lines are skipped.
    pub(crate) async fn receive(&mut self) -> Result<Option<Incoming>, ChannelError> {
        loop {
            let Some(line) = self.lines.next_line().await? else {
                return Ok(None);
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            return Incoming::from_line(line)
                .map(Some)
                .map_err(|error| ChannelError::Decode {
                    line: line.chars().take(200).collect(),
                    error,
                });
        }
    }

    /// Writes one message and flushes it: the daemon reads line by line and waits.
    pub(crate) async fn send(&mut self, message: &Outgoing) -> Result<(), ChannelError> {
        let mut line = message.to_line();
        line.push('\n');
        self.output.write_all(line.as_bytes()).await?;
        self.output.flush().await?;
        Ok(())
    }
}
