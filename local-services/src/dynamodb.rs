//! The DynamoDB API, for the KCL workers' lease, worker metrics and coordinator state tables:
//! from the environment, or an emulator embedded in this process.
//!
//! The embedded emulator is `dynoxide-rs` (pinned), an in-memory SQLite-backed implementation,
//! served over HTTP on a loopback port so that KCL's Java SDK reaches it through its endpoint
//! override, as it reaches AWS. It was chosen after measuring the candidates against the calls
//! KCL 3.x makes (see the README's "Local services" section and `scripts/dynamodb-probe.py`):
//! it answers all of them (the legacy `Expected` / `AttributeUpdates` forms KCL's lease code
//! uses, the owner index KCL 3 adds with `UpdateTable`, conditional writes that return the old
//! item), it is the fastest, and it needs no process or runtime of its own.

use crate::embedded_server::EmbeddedServer;
use std::sync::OnceLock;

/// A DynamoDB API endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoDbEndpoint {
    /// `None` for AWS itself, else the URL to give a client as its endpoint override.
    pub url: Option<String>,
}

/// A DynamoDB emulator served on a loopback port by a thread of its own, holding its tables in
/// memory. Dropping it stops it (and forgets the tables).
pub struct EmbeddedDynamoDb {
    server: EmbeddedServer,
}

impl std::fmt::Debug for EmbeddedDynamoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedDynamoDb")
            .field("url", &self.url())
            .finish()
    }
}

impl EmbeddedDynamoDb {
    /// Starts an emulator on `127.0.0.1:port` (`0` picks a free port).
    pub fn start(port: u16) -> std::io::Result<Self> {
        let db = dynoxide::Database::memory()
            .map_err(|e| std::io::Error::other(format!("an in-memory DynamoDB database: {e}")))?;
        let server = EmbeddedServer::start("dynamodb", port, |listener, shutdown| async move {
            if let Err(e) = dynoxide::server::serve_with_shutdown(listener, db, shutdown).await {
                tracing::error!(error = %e, "the embedded DynamoDB emulator stopped");
            }
        })?;
        Ok(Self { server })
    }

    /// The URL to give a client as its endpoint override.
    pub fn url(&self) -> &str {
        self.server.url()
    }
}

/// The DynamoDB endpoint for this process: `DYNAMODB_ENDPOINT_URL` if set (the value `aws`
/// means AWS itself), else one emulator embedded in this process, shared by every caller.
pub fn dynamodb() -> DynamoDbEndpoint {
    match std::env::var("DYNAMODB_ENDPOINT_URL") {
        Ok(v) if v == "aws" => DynamoDbEndpoint { url: None },
        Ok(v) if !v.is_empty() => DynamoDbEndpoint { url: Some(v) },
        _ => {
            static SHARED: OnceLock<EmbeddedDynamoDb> = OnceLock::new();
            let emulator = SHARED.get_or_init(|| {
                EmbeddedDynamoDb::start(0)
                    .expect("binding a loopback port for the embedded DynamoDB emulator")
            });
            DynamoDbEndpoint {
                url: Some(emulator.url().to_owned()),
            }
        }
    }
}
