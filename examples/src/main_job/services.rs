//! The services a main-job run uses: found, or started and later stopped.

use local_services::{GremlinEndpoint, GremlinOrigin, KinesisEndpoint};

/// The Gremlin Server and the Kinesis API of a run, and which of them the run started.
pub struct Services {
    /// The Gremlin Server.
    pub gremlin: GremlinEndpoint,
    /// The Kinesis API (embedded in this process unless `KINESIS_ENDPOINT_URL` names one).
    pub kinesis: KinesisEndpoint,
}

impl Services {
    /// The Gremlin Server named by `GREMLIN_URL`, else the local one on `port` (started if
    /// nothing answers there), and the Kinesis API.
    pub async fn start(port: u16) -> Result<Self, local_services::ServiceError> {
        let gremlin = match std::env::var("GREMLIN_URL") {
            Ok(_) => local_services::gremlin().await?,
            Err(_) => local_services::ensure_local_gremlin(port).await?,
        };
        Ok(Self {
            gremlin,
            kinesis: local_services::kinesis(),
        })
    }

    /// One line per service: where it is and whether this run started it.
    pub fn describe(&self) -> Vec<String> {
        let gremlin = match self.gremlin.origin {
            GremlinOrigin::StartedHere => "started by this run (scripts/gremlin-server.sh)",
            GremlinOrigin::Local => "already running",
            GremlinOrigin::Environment => "named by GREMLIN_URL",
            GremlinOrigin::Container => "in a container (testcontainers)",
        };
        let kinesis = if self.kinesis.embedded {
            "embedded in this process (stops with it)"
        } else {
            "named by KINESIS_ENDPOINT_URL"
        };
        vec![
            format!("gremlin server {} ({gremlin})", self.gremlin.url),
            format!(
                "kinesis api {} ({kinesis})",
                self.kinesis.url.as_deref().unwrap_or("AWS")
            ),
        ]
    }

    /// Stops what this run started, unless `keep`; returns what was done, one line each.
    pub async fn finish(&self, keep: bool) -> Vec<String> {
        let mut lines = Vec::new();
        if self.gremlin.origin == GremlinOrigin::StartedHere {
            let stop = local_services::stop_local_gremlin_command(self.gremlin.port);
            if keep {
                lines.push(format!(
                    "kept the Gremlin Server on {} running (--keep-services); stop it with `{stop}`",
                    self.gremlin.url
                ));
            } else {
                match local_services::stop_local_gremlin(self.gremlin.port).await {
                    Ok(()) => lines.push(format!(
                        "stopped the Gremlin Server on {}",
                        self.gremlin.url
                    )),
                    Err(e) => lines.push(format!(
                        "could not stop the Gremlin Server on {}: {e}; stop it with `{stop}`",
                        self.gremlin.url
                    )),
                }
            }
        } else {
            lines.push(format!(
                "left the Gremlin Server on {} as it was (this run did not start it)",
                self.gremlin.url
            ));
        }
        if self.kinesis.embedded {
            lines.push("the embedded Kinesis API stops with this process".into());
        }
        lines
    }
}
