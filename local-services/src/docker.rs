//! Whether a Docker engine answers on this machine.

use std::time::Duration;

/// True when a Docker engine answers its `/_ping` endpoint within a second. A `docker` client
/// binary alone is not enough; `DOCKER_HOST` may point at a TCP engine.
pub(crate) async fn engine_answers() -> bool {
    if std::env::var("STREAM2NEPTUNE_NO_DOCKER").is_ok_and(|v| v == "1") {
        return false;
    }
    let ping = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
        let mut response = Vec::new();
        match std::env::var("DOCKER_HOST") {
            Ok(host) if host.starts_with("tcp://") => {
                let addr = host.trim_start_matches("tcp://").to_owned();
                let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
                s.write_all(request).await.ok()?;
                s.read_to_end(&mut response).await.ok()?;
            }
            other => {
                let path = match other {
                    Ok(h) if h.starts_with("unix://") => h.trim_start_matches("unix://").to_owned(),
                    _ => "/var/run/docker.sock".to_owned(),
                };
                let mut s = tokio::net::UnixStream::connect(path).await.ok()?;
                s.write_all(request).await.ok()?;
                s.read_to_end(&mut response).await.ok()?;
            }
        }
        Some(response.starts_with(b"HTTP/1.") && response.windows(2).any(|w| w == b"OK"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), ping).await,
        Ok(Some(true))
    )
}
