//! Running the scripts that start and stop a local server (`scripts/gremlin-server.sh`,
//! `scripts/janusgraph-server.sh`): their messages pass through to standard error as they
//! come, and a failed run is an error that carries the script's last lines.

use crate::{workspace_root, ServiceError};
use std::collections::VecDeque;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

/// How many of the script's last lines of standard error a failure carries.
const LAST_WORDS: usize = 12;

/// One of the scripts under `scripts/` that runs a local server on a port.
pub(crate) struct ServiceScript {
    /// The service, as errors name it.
    pub service: &'static str,
    /// The script, relative to the workspace root.
    pub path: &'static str,
    /// The variable that gives the script its port.
    pub port_variable: &'static str,
}

impl ServiceScript {
    /// The command that runs `action` for `port` by hand.
    pub(crate) fn command(&self, action: &str, port: u16) -> String {
        format!("{}={port} {} {action}", self.port_variable, self.path)
    }

    /// Runs the script's `action` for `port`. A failure carries the script's last lines and
    /// says `how_to` do it by hand.
    pub(crate) async fn run(
        &self,
        action: &str,
        port: u16,
        how_to: String,
    ) -> Result<(), ServiceError> {
        let script = workspace_root().join(self.path);
        let unavailable = |reason: String| ServiceError::Unavailable {
            service: self.service,
            reason,
            how_to_start: how_to.clone(),
        };
        let mut child = tokio::process::Command::new("bash")
            .arg(&script)
            .arg(action)
            .env(self.port_variable, port.to_string())
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| unavailable(format!("cannot run {}: {e}", script.display())))?;
        let mut last = VecDeque::with_capacity(LAST_WORDS);
        if let Some(stderr) = child.stderr.take() {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{line}");
                if last.len() == LAST_WORDS {
                    last.pop_front();
                }
                last.push_back(line);
            }
        }
        let status = child
            .wait()
            .await
            .map_err(|e| unavailable(format!("{} {action}: {e}", script.display())))?;
        if status.success() {
            return Ok(());
        }
        let words = if last.is_empty() {
            "it said nothing".to_owned()
        } else {
            format!("its last words: {}", Vec::from(last).join("; "))
        };
        Err(unavailable(format!(
            "`{}` failed ({status}); {words}",
            self.command(action, port)
        )))
    }
}
