//! Finding (or starting) a Gremlin Server.

use crate::service_script::ServiceScript;
use crate::{docker, tcp_answers, workspace_root, ServiceError};
use std::sync::OnceLock;
use std::time::Duration;

/// The TinkerPop version of the container image, the same line as the Maven-resolved server.
pub const GREMLIN_SERVER_IMAGE_TAG: &str = "3.7.5";

/// Where a Gremlin Server came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GremlinOrigin {
    /// Named by `GREMLIN_URL`.
    Environment,
    /// A container started through `testcontainers`.
    Container,
    /// The server `scripts/gremlin-server.sh` runs on this machine, found running.
    Local,
    /// The server `scripts/gremlin-server.sh` runs on this machine, started by this process
    /// (see [`stop_local_gremlin`]).
    StartedHere,
}

/// A Gremlin Server to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GremlinEndpoint {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Whether to use TLS (`wss://`).
    pub tls: bool,
    /// The WebSocket URL, e.g. `ws://127.0.0.1:8182/gremlin`.
    pub url: String,
    /// Where it came from.
    pub origin: GremlinOrigin,
}

const HOW_TO_START: &str =
    "start one with `scripts/gremlin-server.sh start` (needs Java 11+ and Maven; \
     binds 127.0.0.1:8182), or set GREMLIN_URL=ws://HOST:PORT/gremlin";

fn parse_url(url: &str) -> Result<(String, u16, bool), ServiceError> {
    let bad = |why: &str| ServiceError::Unavailable {
        service: "Gremlin Server",
        reason: format!("GREMLIN_URL={url} is not usable: {why}"),
        how_to_start: "set GREMLIN_URL=ws://HOST:PORT/gremlin or wss://HOST:PORT/gremlin".into(),
    };
    let (tls, rest) = if let Some(r) = url.strip_prefix("wss://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("ws://") {
        (false, r)
    } else {
        return Err(bad("it must start with ws:// or wss://"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse::<u16>().map_err(|_| bad("bad port"))?),
        None => (authority.to_owned(), 8182),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((host, port, tls))
}

/// The Gremlin Server for this process: from `GREMLIN_URL`, else a container where a Docker
/// engine answers, else the local server on `127.0.0.1:${GREMLIN_PORT:-8182}`. Errors say how to
/// start one.
pub async fn gremlin() -> Result<GremlinEndpoint, ServiceError> {
    if let Ok(url) = std::env::var("GREMLIN_URL") {
        let (host, port, tls) = parse_url(&url)?;
        if !tcp_answers(&format!("{host}:{port}"), Duration::from_secs(5)).await {
            return Err(ServiceError::Unavailable {
                service: "Gremlin Server",
                reason: format!("GREMLIN_URL={url} does not accept connections"),
                how_to_start: HOW_TO_START.into(),
            });
        }
        return Ok(GremlinEndpoint {
            host,
            port,
            tls,
            url,
            origin: GremlinOrigin::Environment,
        });
    }
    if docker::engine_answers().await {
        return container().await;
    }
    let port: u16 = std::env::var("GREMLIN_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8182);
    if tcp_answers(&format!("127.0.0.1:{port}"), Duration::from_secs(2)).await {
        return Ok(local_endpoint(port));
    }
    Err(ServiceError::Unavailable {
        service: "Gremlin Server",
        reason: format!("nothing answers on 127.0.0.1:{port}, GREMLIN_URL is not set and no Docker engine answers"),
        how_to_start: HOW_TO_START.into(),
    })
}

/// The command that starts the local Gremlin Server over TLS, and the variables that name it.
pub const START_GREMLIN_TLS: &str = "start one with `GREMLIN_TLS=1 GREMLIN_PORT=8192 \
     scripts/gremlin-server.sh start` (a private CA made with keytool; scripts/test-all.sh does \
     it), or set GREMLIN_TLS_URL=wss://HOST:PORT/gremlin and GREMLIN_TLS_CA_FILE=CA.pem";

/// A Gremlin Server that serves `wss://` with a certificate from a private CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GremlinTlsEndpoint {
    /// The host of the URL: a name on the server's certificate (`localhost` locally).
    pub host: String,
    /// Port.
    pub port: u16,
    /// `wss://HOST:PORT/gremlin`.
    pub url: String,
    /// The PEM file of the CA that issued the server's certificate.
    pub ca_file: std::path::PathBuf,
}

/// The Gremlin Server over TLS: `GREMLIN_TLS_URL` with its CA in `GREMLIN_TLS_CA_FILE`, else
/// the one `GREMLIN_TLS=1 scripts/gremlin-server.sh start` runs on
/// `localhost:${GREMLIN_TLS_PORT:-8192}`, with the CA it made. Errors say how to start one.
pub async fn gremlin_tls() -> Result<GremlinTlsEndpoint, ServiceError> {
    let unavailable = |reason: String| ServiceError::Unavailable {
        service: "Gremlin Server over TLS",
        reason,
        how_to_start: START_GREMLIN_TLS.into(),
    };
    let (url, named) = match std::env::var("GREMLIN_TLS_URL") {
        Ok(url) => (url, true),
        Err(_) => {
            let port = std::env::var("GREMLIN_TLS_PORT").unwrap_or_else(|_| "8192".into());
            (format!("wss://localhost:{port}/gremlin"), false)
        }
    };
    let (host, port, tls) = parse_url(&url).map_err(|_| {
        unavailable(format!(
            "GREMLIN_TLS_URL={url} is not a wss://HOST:PORT/gremlin URL"
        ))
    })?;
    if !tls {
        return Err(unavailable(format!(
            "GREMLIN_TLS_URL={url} is not a wss:// URL"
        )));
    }
    let ca_file = match std::env::var("GREMLIN_TLS_CA_FILE") {
        Ok(path) => std::path::PathBuf::from(path),
        Err(_) => workspace_root().join(format!(".services/gremlin-server/tls-{port}/ca.pem")),
    };
    let source = if named {
        "GREMLIN_TLS_URL"
    } else {
        "the local default (GREMLIN_TLS_URL is not set)"
    };
    if !tcp_answers(&format!("{host}:{port}"), Duration::from_secs(5)).await {
        return Err(unavailable(format!(
            "nothing accepts connections at {url}, {source}"
        )));
    }
    if !ca_file.is_file() {
        return Err(unavailable(format!(
            "{url} answers but its CA file {} does not exist",
            ca_file.display()
        )));
    }
    Ok(GremlinTlsEndpoint {
        host,
        port,
        url,
        ca_file,
    })
}

/// The endpoint of a server on `127.0.0.1:port`, found running there.
pub(crate) fn local_endpoint(port: u16) -> GremlinEndpoint {
    GremlinEndpoint {
        host: "127.0.0.1".into(),
        port,
        tls: false,
        url: format!("ws://127.0.0.1:{port}/gremlin"),
        origin: GremlinOrigin::Local,
    }
}

/// The command that stops the local Gremlin Server on `port`.
pub fn stop_local_gremlin_command(port: u16) -> String {
    format!("GREMLIN_PORT={port} scripts/gremlin-server.sh stop")
}

/// Stops the local Gremlin Server on `port` that `scripts/gremlin-server.sh` started.
pub async fn stop_local_gremlin(port: u16) -> Result<(), ServiceError> {
    SCRIPT
        .run("stop", port, stop_local_gremlin_command(port))
        .await
}

const SCRIPT: ServiceScript = ServiceScript {
    service: "Gremlin Server",
    path: "scripts/gremlin-server.sh",
    port_variable: "GREMLIN_PORT",
};

/// Returns the local Gremlin Server on `port`, starting it with `scripts/gremlin-server.sh` if
/// nothing answers there (the first start resolves the server's jars with Maven); the origin
/// says which ([`GremlinOrigin::StartedHere`] when this call started it).
pub async fn ensure_local_gremlin(port: u16) -> Result<GremlinEndpoint, ServiceError> {
    if tcp_answers(&format!("127.0.0.1:{port}"), Duration::from_secs(2)).await {
        return Ok(local_endpoint(port));
    }
    SCRIPT.run("start", port, HOW_TO_START.into()).await?;
    Ok(GremlinEndpoint {
        origin: GremlinOrigin::StartedHere,
        ..local_endpoint(port)
    })
}

/// Starts (once per process) a `tinkerpop/gremlin-server` container with this project's server
/// configuration, on a runtime of its own so it outlives each test's runtime.
async fn container() -> Result<GremlinEndpoint, ServiceError> {
    static CONTAINER: OnceLock<Result<u16, String>> = OnceLock::new();
    let result = tokio::task::spawn_blocking(|| {
        CONTAINER
            .get_or_init(|| {
                std::thread::spawn(start_container_blocking)
                    .join()
                    .unwrap_or_else(|_| Err("the container thread panicked".into()))
            })
            .clone()
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    match result {
        Ok(port) => Ok(GremlinEndpoint {
            origin: GremlinOrigin::Container,
            ..local_endpoint(port)
        }),
        Err(reason) => Err(ServiceError::Unavailable {
            service: "Gremlin Server",
            reason: format!("a Docker engine answers but the container did not start: {reason}"),
            how_to_start: HOW_TO_START.into(),
        }),
    }
}

fn start_container_blocking() -> Result<u16, String> {
    use testcontainers::core::{IntoContainerPort, WaitFor};
    use testcontainers::runners::AsyncRunner;
    use testcontainers::{GenericImage, ImageExt};

    let root = workspace_root().join("services/gremlin-server");
    // Inside a container the server must listen on every interface of the container.
    let yaml = std::fs::read_to_string(root.join("conf/gremlin-server.yaml"))
        .map_err(|e| e.to_string())?;
    let yaml = yaml.replace("host: 127.0.0.1", "host: 0.0.0.0");
    let dir = std::env::temp_dir().join(format!("s2n-gremlin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let yaml_path = dir.join("s2n.yaml");
    std::fs::write(&yaml_path, yaml).map_err(|e| e.to_string())?;

    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
                return;
            }
        };
        runtime.block_on(async move {
            let request = GenericImage::new("tinkerpop/gremlin-server", GREMLIN_SERVER_IMAGE_TAG)
                .with_exposed_port(8182.tcp())
                .with_wait_for(WaitFor::message_on_either_std("Channel started at port"))
                .with_copy_to("/opt/gremlin-server/conf/s2n.yaml", yaml_path)
                .with_copy_to(
                    "/opt/gremlin-server/conf/tinkergraph.properties",
                    root.join("conf/tinkergraph.properties"),
                )
                .with_copy_to(
                    "/opt/gremlin-server/scripts/init.groovy",
                    root.join("scripts/init.groovy"),
                )
                .with_cmd(["conf/s2n.yaml"])
                .with_startup_timeout(Duration::from_secs(180));
            match request.start().await {
                Ok(container) => match container.get_host_port_ipv4(8182).await {
                    Ok(port) => {
                        let _ = tx.send(Ok(port));
                        // Keep the container (and this runtime) alive for the life of the process.
                        std::future::pending::<()>().await;
                        drop(container);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                },
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            }
        });
    });
    rx.recv().map_err(|e| e.to_string())?
}

/// A Gremlin Server of its own, for a test that must stop, freeze or restart the server without
/// disturbing the others: started by `scripts/gremlin-server.sh` on a free loopback port (Java
/// and Maven needed, as for the shared one), stopped when dropped.
pub struct OwnGremlinServer {
    /// Where it answers.
    pub endpoint: GremlinEndpoint,
    pid: u32,
}

impl OwnGremlinServer {
    /// Starts one and waits until it answers.
    pub async fn start() -> Result<Self, ServiceError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| ServiceError::Unavailable {
                service: "Gremlin Server",
                reason: format!("no free loopback port: {e}"),
                how_to_start: HOW_TO_START.into(),
            })?;
        let endpoint = ensure_local_gremlin(port).await?;
        let pidfile = workspace_root().join(format!(".services/gremlin-server/server-{port}.pid"));
        let pid = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .ok_or_else(|| ServiceError::Unavailable {
                service: "Gremlin Server",
                reason: format!("started, but {} names no process", pidfile.display()),
                how_to_start: HOW_TO_START.into(),
            })?;
        Ok(Self { endpoint, pid })
    }

    /// The server's process id (the JVM).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends the server `signal` (e.g. `STOP` to freeze it, `CONT` to let it go on).
    pub fn signal(&self, signal: &str) -> std::io::Result<()> {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid.to_string())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "kill -{signal} {} failed",
                self.pid
            )))
        }
    }
}

impl Drop for OwnGremlinServer {
    fn drop(&mut self) {
        let _ = self.signal("CONT");
        let _ = std::process::Command::new("bash")
            .arg(workspace_root().join("scripts/gremlin-server.sh"))
            .arg("stop")
            .env("GREMLIN_PORT", self.endpoint.port.to_string())
            .status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_with_default_port_and_tls() {
        assert_eq!(
            parse_url("ws://127.0.0.1:8182/gremlin").unwrap(),
            ("127.0.0.1".into(), 8182, false)
        );
        assert_eq!(
            parse_url("wss://db.example:8183/gremlin").unwrap(),
            ("db.example".into(), 8183, true)
        );
        assert_eq!(
            parse_url("wss://db.example/gremlin").unwrap(),
            ("db.example".into(), 8182, true)
        );
        assert!(parse_url("http://x").is_err());
        assert!(parse_url("ws://:1/").is_err());
    }
}
