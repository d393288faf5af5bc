//! What lives as long as one Lambda execution environment: the graph connection (created on
//! the first invocation that needs it and reused by the next ones), the dead-letter log and the
//! metrics sink.

use super::config::{LambdaConfig, RecordFormat};
use super::handler::{handle_event, HandlerError, Invocation};
use crate::changes::ChangeJson;
use crate::dead_letter::{DeadLetter, DeadLetterError, DeadLetterSink};
use crate::follows_csv::FollowsCsv;
use crate::mapper::RecordMapper;
use async_trait::async_trait;
use aws_lambda_events::event::kinesis::KinesisEvent;
use futures::future::BoxFuture;
use metrics_sink::MetricsSink;
use neptune_batch::transport::IamAuth;
use neptune_batch::{GraphSink, GremlinSink, SinkError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use stream2neptune_common::ErrorKind;

/// Opens a graph sink for a configuration.
pub type Connector =
    dyn Fn(LambdaConfig) -> BoxFuture<'static, Result<Arc<dyn GraphSink>, SinkError>> + Send + Sync;

/// Connects a [`GremlinSink`] to the configured writer endpoint: one connection, TLS as
/// configured (the certificate verified for `neptune_tls_server_name`, against the platform's
/// roots and `neptune_ca_file`), the upgrade naming `neptune_signing_host`, and SigV4-signed
/// for that host with the function's role when `neptune_iam_auth` is set.
pub async fn connect_sink(config: &LambdaConfig) -> Result<GremlinSink, SinkError> {
    let mut sink_config = config.sink_config();
    if config.iam_auth {
        let iam = IamAuth::from_default_chain(config.region.clone())
            .await
            .map_err(|e| {
                SinkError::Config(neptune_batch::ConfigError::new(
                    "neptune_iam_auth",
                    e.to_string(),
                ))
            })?;
        sink_config = sink_config.writer(|w| w.iam(iam));
    }
    GremlinSink::connect(sink_config.build()?).await
}

/// Dead letters written to the function's log (CloudWatch Logs), one JSON object per line
/// under the target `dead_letter`: the shard, the sequence number, the reason and the payload
/// in base64, so a record the mapping gives up on can be found by the sequence number its
/// on-failure message names and replayed.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogDeadLetters;

#[async_trait]
impl DeadLetterSink for LogDeadLetters {
    async fn put(&self, letters: &[DeadLetter]) -> Result<(), DeadLetterError> {
        for letter in letters {
            let line = serde_json::to_string(letter)
                .map_err(|e| DeadLetterError::new("log", ErrorKind::Permanent, e))?;
            tracing::warn!(target: "dead_letter", "{line}");
        }
        Ok(())
    }
}

/// One execution environment's state. Invocations of one environment never overlap (Lambda
/// sends the next event only after the previous answer), so the sink is shared, not pooled.
pub struct WriterEnvironment {
    connector: Box<Connector>,
    mapper: Option<Arc<dyn RecordMapper>>,
    sink: tokio::sync::Mutex<Option<(String, Arc<dyn GraphSink>)>>,
    dead_letters: Arc<dyn DeadLetterSink>,
    metrics: Arc<dyn MetricsSink>,
    connections: AtomicU64,
}

impl WriterEnvironment {
    /// An environment that opens its sink with `connector` when first needed.
    pub fn new(
        connector: Box<Connector>,
        dead_letters: Arc<dyn DeadLetterSink>,
        metrics: Arc<dyn MetricsSink>,
    ) -> Self {
        Self {
            connector,
            mapper: None,
            sink: tokio::sync::Mutex::new(None),
            dead_letters,
            metrics,
            connections: AtomicU64::new(0),
        }
    }

    /// Maps records with `mapper` instead of the configured format's mapper: [`FollowsCsv`]
    /// with the configured schema (`record_format=follows-csv`), or [`ChangeJson`] with the
    /// configured placeholder label (`record_format=changes`).
    pub fn with_mapper(mut self, mapper: Arc<dyn RecordMapper>) -> Self {
        self.mapper = Some(mapper);
        self
    }

    /// An environment writing to the configured Gremlin endpoint through [`connect_sink`].
    pub fn gremlin(dead_letters: Arc<dyn DeadLetterSink>, metrics: Arc<dyn MetricsSink>) -> Self {
        Self::new(
            Box::new(|config: LambdaConfig| {
                Box::pin(async move {
                    connect_sink(&config)
                        .await
                        .map(|s| Arc::new(s) as Arc<dyn GraphSink>)
                })
            }),
            dead_letters,
            metrics,
        )
    }

    /// Sinks opened so far (one per environment unless a connection failed as a whole or the
    /// endpoint changed).
    pub fn connections_opened(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Handles one event: fails while `wait` is `true` (the original's pause: the mapping
    /// keeps retrying and the shard stays where it is), opens the sink if there is none yet,
    /// then runs [`handle_event`]. After a failure of the sink as a whole, the next invocation
    /// connects afresh.
    pub async fn invoke(
        &self,
        config: &LambdaConfig,
        event: &KinesisEvent,
    ) -> Result<Invocation, HandlerError> {
        if config.wait {
            return Err(HandlerError::Waiting);
        }
        let url = config.writer_url();
        let sink = {
            let mut slot = self.sink.lock().await;
            match slot.as_ref() {
                Some((u, sink)) if *u == url => sink.clone(),
                _ => {
                    tracing::info!(endpoint = %url, "connecting to the graph");
                    let sink = (self.connector)(config.clone())
                        .await
                        .map_err(HandlerError::Connect)?;
                    self.connections.fetch_add(1, Ordering::Relaxed);
                    *slot = Some((url, sink.clone()));
                    sink
                }
            }
        };
        let (follows, changes);
        let mapper: &dyn RecordMapper = match (&self.mapper, config.record_format) {
            (Some(m), _) => m.as_ref(),
            (None, RecordFormat::FollowsCsv) => {
                follows = FollowsCsv::new(config.schema.clone());
                &follows
            }
            (None, RecordFormat::Changes) => {
                changes = ChangeJson::default().placeholder_label(config.placeholder_label.clone());
                &changes
            }
        };
        let invocation = handle_event(
            event,
            mapper,
            sink.as_ref(),
            self.dead_letters.as_ref(),
            self.metrics.as_ref(),
            config,
        )
        .await?;
        if invocation.sink_failed {
            *self.sink.lock().await = None;
        }
        Ok(invocation)
    }
}
