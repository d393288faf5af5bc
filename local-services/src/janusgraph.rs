//! Finding (or starting) the local JanusGraph Server that `scripts/janusgraph-server.sh` runs:
//! a second graph engine beside the TinkerPop Gremlin Server, on a port of its own (8183 by
//! default). It speaks the same Gremlin Server protocol, so it is described by a
//! [`GremlinEndpoint`].

use crate::gremlin::{local_endpoint, GremlinEndpoint, GremlinOrigin};
use crate::service_script::ServiceScript;
use crate::{tcp_answers, ServiceError};
use std::time::Duration;

/// The port `scripts/janusgraph-server.sh` uses unless `JANUSGRAPH_PORT` says otherwise.
pub const JANUSGRAPH_DEFAULT_PORT: u16 = 8183;

const SCRIPT: ServiceScript = ServiceScript {
    service: "JanusGraph Server",
    path: "scripts/janusgraph-server.sh",
    port_variable: "JANUSGRAPH_PORT",
};

/// The command that starts the local JanusGraph Server on `port` by hand, and what it needs.
pub fn start_local_janusgraph_command(port: u16) -> String {
    format!(
        "start it by hand with `{}` (needs Java 11+ and Maven; binds 127.0.0.1 only)",
        SCRIPT.command("start", port)
    )
}

/// The command that stops the local JanusGraph Server on `port`.
pub fn stop_local_janusgraph_command(port: u16) -> String {
    SCRIPT.command("stop", port)
}

/// Returns the local JanusGraph Server on `port`, starting it with
/// `scripts/janusgraph-server.sh start` if nothing answers there (the first start resolves its
/// jars with Maven); the origin says which ([`GremlinOrigin::StartedHere`] when this call
/// started it). The script's environment passes through (`JANUSGRAPH_BACKEND`,
/// `JANUSGRAPH_HEAP`, `JANUSGRAPH_JAVA_OPTS`, ...). A failed start is an error with the script's
/// last lines and the command to start the server by hand.
pub async fn ensure_local_janusgraph(port: u16) -> Result<GremlinEndpoint, ServiceError> {
    if tcp_answers(&format!("127.0.0.1:{port}"), Duration::from_secs(2)).await {
        return Ok(local_endpoint(port));
    }
    SCRIPT
        .run("start", port, start_local_janusgraph_command(port))
        .await?;
    Ok(GremlinEndpoint {
        origin: GremlinOrigin::StartedHere,
        ..local_endpoint(port)
    })
}

/// Stops the local JanusGraph Server on `port` that `scripts/janusgraph-server.sh` started
/// (a server it did not start is left alone by the script).
pub async fn stop_local_janusgraph(port: u16) -> Result<(), ServiceError> {
    SCRIPT
        .run("stop", port, stop_local_janusgraph_command(port))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commands_name_the_script_and_the_port() {
        assert_eq!(
            stop_local_janusgraph_command(8183),
            "JANUSGRAPH_PORT=8183 scripts/janusgraph-server.sh stop"
        );
        assert!(start_local_janusgraph_command(9000)
            .contains("`JANUSGRAPH_PORT=9000 scripts/janusgraph-server.sh start`"));
    }

    #[tokio::test]
    async fn a_failed_script_run_carries_its_last_words() {
        // A stop of a server the script never started says so and succeeds; an unknown action
        // fails with the script's usage line.
        let error = SCRIPT.run("no-such-action", 1, "by hand".into()).await;
        let text = error.expect_err("an unknown action fails").to_string();
        assert!(text.contains("last words"), "{text}");
        assert!(text.contains("usage:"), "{text}");
        assert!(text.contains("by hand"), "{text}");
    }
}
