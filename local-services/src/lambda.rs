//! A Lambda function run locally behind the AWS Lambda runtime interface emulator, the
//! implementation of the Lambda Runtime API that AWS ships in its base images: it starts the
//! function's `bootstrap` as Lambda's init phase does, hands it events through the Runtime API,
//! returns its answers on the invoke endpoint, and passes on what it prints between
//! `START`/`END`/`REPORT` lines, as CloudWatch Logs shows them.
//!
//! `scripts/lambda-rie.sh install` builds the emulator (a Go module, pinned) into
//! `.services/lambda-rie/`; `LAMBDA_RIE=/path/to/aws-lambda-rie` names another copy.

use crate::ServiceError;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// The emulator's Go module version that `scripts/lambda-rie.sh` builds.
pub const LAMBDA_RIE_VERSION: &str = "v0.0.0-20261030222936-bef5c4ba774d";

const HOW_TO_INSTALL: &str = "build it with `scripts/lambda-rie.sh install` (Go, from the Go \
     module proxy, into .services/lambda-rie/), or set LAMBDA_RIE=/path/to/aws-lambda-rie";

/// Time allowed for the emulator to listen, and for one invocation.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);

/// The emulator's executable: `LAMBDA_RIE` if set, else the one `scripts/lambda-rie.sh
/// install` builds; it must exist.
pub fn lambda_emulator() -> Result<PathBuf, ServiceError> {
    let path = match std::env::var("LAMBDA_RIE") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => crate::workspace_root().join(".services/lambda-rie/bin/aws-lambda-rie"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(ServiceError::Unavailable {
            service: "Lambda runtime interface emulator",
            reason: format!("{} does not exist", path.display()),
            how_to_start: HOW_TO_INSTALL.into(),
        })
    }
}

/// An invocation that got no answer from the emulator.
#[derive(Debug, thiserror::Error)]
#[error("invoking the function failed: {0}")]
pub struct InvokeError(pub String);

impl InvokeError {
    /// The emulator or the function is gone or stuck; trying again will not help.
    pub fn is_retriable(&self) -> bool {
        false
    }
}

/// Lines a child process printed, collected as they come.
type Lines = Arc<Mutex<Vec<String>>>;

fn collect(stream: impl AsyncRead + Unpin + Send + 'static, into: Lines) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.lock().unwrap_or_else(|p| p.into_inner()).push(line);
        }
    });
}

/// Two free loopback ports; with `LAMBDA_EMULATOR_PORT` set, the next two of the range it
/// starts (each function started by this process takes its own pair).
fn ports() -> std::io::Result<(u16, u16)> {
    use std::sync::atomic::{AtomicU16, Ordering};
    static TAKEN: AtomicU16 = AtomicU16::new(0);
    if let Some(base) = std::env::var("LAMBDA_EMULATOR_PORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
    {
        let first = base + 2 * TAKEN.fetch_add(1, Ordering::Relaxed);
        return Ok((first, first + 1));
    }
    let a = std::net::TcpListener::bind("127.0.0.1:0")?;
    let b = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// A function running behind the emulator; stopped (emulator and function) when dropped.
pub struct LambdaFunction {
    child: tokio::process::Child,
    invoke_url: String,
    stdout: Lines,
    stderr: Lines,
    http: reqwest::Client,
}

impl LambdaFunction {
    /// Starts the emulator on two loopback ports (free ones, or the next two from
    /// `LAMBDA_EMULATOR_PORT` on) with `bootstrap` as the function and `env` as its only environment besides
    /// `PATH` and what the emulator adds (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`,
    /// ...), and waits until it takes invocations. Fails, with what the emulator printed, if
    /// it exits or does not listen within 20 s.
    pub async fn start(bootstrap: &Path, env: &[(&str, &str)]) -> Result<Self, ServiceError> {
        let emulator = lambda_emulator()?;
        let unavailable = |reason: String| ServiceError::Unavailable {
            service: "Lambda runtime interface emulator",
            reason,
            how_to_start: HOW_TO_INSTALL.into(),
        };
        let (runtime_port, invoke_port) =
            ports().map_err(|e| unavailable(format!("no free port: {e}")))?;
        let mut command = tokio::process::Command::new(&emulator);
        command
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{runtime_port}"))
            .arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{invoke_port}"))
            .arg(bootstrap)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LOG_LEVEL", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that stopping it stops the function it started.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| unavailable(format!("{} did not start: {e}", emulator.display())))?;
        let stdout = Lines::default();
        let stderr = Lines::default();
        collect(child.stdout.take().expect("piped"), stdout.clone());
        collect(child.stderr.take().expect("piped"), stderr.clone());
        let mut function = Self {
            child,
            invoke_url: format!(
                "http://127.0.0.1:{invoke_port}/2015-03-31/functions/function/invocations"
            ),
            stdout,
            stderr,
            http: reqwest::Client::builder()
                .timeout(INVOKE_TIMEOUT)
                .build()
                .map_err(|e| unavailable(format!("no HTTP client: {e}")))?,
        };
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let address = format!("127.0.0.1:{invoke_port}");
        loop {
            if crate::tcp_answers(&address, Duration::from_millis(200)).await {
                return Ok(function);
            }
            if let Ok(Some(status)) = function.child.try_wait() {
                return Err(unavailable(format!(
                    "it exited ({status}) while starting:\n{}",
                    function.stderr().join("\n")
                )));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(unavailable(format!(
                    "nothing listens on {address} after {START_TIMEOUT:?}:\n{}",
                    function.stderr().join("\n")
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends one event to the function and returns its answer (the body the Lambda `Invoke`
    /// API would return).
    pub async fn invoke(&self, event: &str) -> Result<String, InvokeError> {
        let response = self
            .http
            .post(&self.invoke_url)
            .body(event.to_owned())
            .send()
            .await
            .map_err(|e| {
                InvokeError(format!("{e}; emulator log:\n{}", self.stderr().join("\n")))
            })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| InvokeError(e.to_string()))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(InvokeError(format!("HTTP {status}: {body}")))
        }
    }

    /// What the function (and the emulator's `START`/`END`/`REPORT` lines) printed on standard
    /// output so far: its log, as CloudWatch Logs would hold it.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What the emulator and the function printed on standard error so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until standard output has a line for which `done` holds (lines can arrive just
    /// after the answer); returns whether it came within `timeout`.
    pub async fn wait_for_stdout(
        &self,
        timeout: Duration,
        done: impl Fn(&[String]) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(&self.stdout()) {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for LambdaFunction {
    fn drop(&mut self) {
        // SIGTERM lets the emulator stop the function; SIGKILL to the group makes sure.
        if let Some(pid) = self
            .child
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32))
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
            std::thread::sleep(Duration::from_millis(200));
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}
