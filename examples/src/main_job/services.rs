//! The services a main-job run uses: found, or started and later stopped.

use super::args::{GraphEngine, GraphSource};
use local_services::{GremlinEndpoint, GremlinOrigin, KinesisEndpoint, ServiceError};

/// The graph and the Kinesis API of a run, and which of them the run started.
pub struct Services {
    /// The graph engine (`--graph`).
    pub engine: GraphEngine,
    /// The graph's Gremlin endpoint: a Gremlin Server, a JanusGraph Server or Neptune.
    pub gremlin: GremlinEndpoint,
    /// The Kinesis API (embedded in this process unless `KINESIS_ENDPOINT_URL` names one).
    pub kinesis: KinesisEndpoint,
}

impl Services {
    /// The graph of `source` (the endpoint `GREMLIN_URL` names, or a local server started if
    /// nothing answers on its port) and the Kinesis API.
    pub async fn start(engine: GraphEngine, source: &GraphSource) -> Result<Self, ServiceError> {
        let gremlin = match *source {
            GraphSource::Named => local_services::gremlin().await?,
            GraphSource::LocalGremlin(port) => local_services::ensure_local_gremlin(port).await?,
            GraphSource::LocalJanusGraph(port) => {
                local_services::ensure_local_janusgraph(port).await?
            }
        };
        Ok(Self {
            engine,
            gremlin,
            kinesis: local_services::kinesis(),
        })
    }

    /// The graph server's name, as the lines below say it.
    fn server(&self) -> &'static str {
        match self.engine {
            GraphEngine::GremlinServer => "Gremlin Server",
            GraphEngine::JanusGraph => "JanusGraph Server",
            GraphEngine::Neptune => "Neptune endpoint",
        }
    }

    /// One line per service: where it is and whether this run started it.
    pub fn describe(&self) -> Vec<String> {
        let script = match self.engine {
            GraphEngine::JanusGraph => "started by this run (scripts/janusgraph-server.sh)",
            _ => "started by this run (scripts/gremlin-server.sh)",
        };
        let gremlin = match self.gremlin.origin {
            GremlinOrigin::StartedHere => script,
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
            format!(
                "{} {} ({gremlin})",
                self.server().to_lowercase(),
                self.gremlin.url
            ),
            format!(
                "kinesis api {} ({kinesis})",
                self.kinesis.url.as_deref().unwrap_or("AWS")
            ),
        ]
    }

    /// Stops the local server on `port` that the engine's script started.
    async fn stop_server(&self, port: u16) -> Result<(), ServiceError> {
        match self.engine {
            GraphEngine::JanusGraph => local_services::stop_local_janusgraph(port).await,
            _ => local_services::stop_local_gremlin(port).await,
        }
    }

    /// Stops what this run started, unless `keep`; returns what was done, one line each.
    pub async fn finish(&self, keep: bool) -> Vec<String> {
        let mut lines = Vec::new();
        let (server, url, port) = (self.server(), &self.gremlin.url, self.gremlin.port);
        if self.gremlin.origin == GremlinOrigin::StartedHere {
            let stop = match self.engine {
                GraphEngine::JanusGraph => local_services::stop_local_janusgraph_command(port),
                _ => local_services::stop_local_gremlin_command(port),
            };
            if keep {
                lines.push(format!(
                    "kept the {server} on {url} running (--keep-services); stop it with `{stop}`"
                ));
            } else {
                match self.stop_server(port).await {
                    Ok(()) => lines.push(format!("stopped the {server} on {url}")),
                    Err(e) => lines.push(format!(
                        "could not stop the {server} on {url}: {e}; stop it with `{stop}`"
                    )),
                }
            }
        } else {
            lines.push(format!(
                "left the {server} on {url} as it was (this run did not start it)"
            ));
        }
        if self.kinesis.embedded {
            lines.push("the embedded Kinesis API stops with this process".into());
        }
        lines
    }
}
