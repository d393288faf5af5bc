//! What a pipeline is made of, checked once.

use super::{Inner, Pipeline, PutTime};
use crate::config::PipelineConfig;
use crate::control::Control;
use crate::dead_letter::DeadLetterSink;
use crate::fault::FaultInjector;
use crate::mapper::RecordMapper;
use crate::stats::PipelineStats;
use crate::ConfigError;
use kinesis_source::Record;
use metrics_sink::MetricsSink;
use neptune_batch::GraphSink;
use std::sync::Arc;
use std::time::SystemTime;

/// Builds a [`Pipeline`]; see [`Pipeline::builder`].
#[derive(Default)]
pub struct PipelineBuilder {
    mapper: Option<Arc<dyn RecordMapper>>,
    sink: Option<Arc<dyn GraphSink>>,
    dead_letters: Option<Arc<dyn DeadLetterSink>>,
    metrics: Option<Arc<dyn MetricsSink>>,
    config: PipelineConfig,
    put_time: Option<PutTime>,
}

impl PipelineBuilder {
    /// How records become graph writes (required).
    pub fn mapper(mut self, mapper: impl RecordMapper + 'static) -> Self {
        self.mapper = Some(Arc::new(mapper));
        self
    }

    /// Where the writes go (required).
    pub fn sink(mut self, sink: Arc<dyn GraphSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Where records that are bad in themselves go (required: a pipeline never drops a record
    /// silently).
    pub fn dead_letters(mut self, dead_letters: Arc<dyn DeadLetterSink>) -> Self {
        self.dead_letters = Some(dead_letters);
        self
    }

    /// Where the original's metrics go (default: nowhere).
    pub fn metrics(mut self, metrics: Arc<dyn MetricsSink>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Where the put-to-graph latency of a record starts (default: the record's
    /// `ApproximateArrivalTimestamp`, or when it was received if the stream gave none).
    ///
    /// For payloads that carry their own event time, or for a producer that knows when it put
    /// each record: some Kinesis emulators stamp arrivals in whole seconds, which adds up to a
    /// second to every latency measured from them. `None` from the function falls back to the
    /// default. Iterator age (`IteratorAge`) stays measured from the stream's timestamp, as
    /// Lambda measures it. It is called once for every record acknowledged, dead letters
    /// included (their answer is not used), so it may forget each record it answers for.
    pub fn put_time(
        mut self,
        put_time: impl Fn(&Record) -> Option<SystemTime> + Send + Sync + 'static,
    ) -> Self {
        self.put_time = Some(Arc::new(put_time));
        self
    }

    /// The settings (default: [`PipelineConfig::default`]).
    pub fn config(mut self, config: PipelineConfig) -> Self {
        self.config = config;
        self
    }

    /// Checks the settings and builds the pipeline.
    pub fn build(self) -> Result<Pipeline, ConfigError> {
        self.config.validate()?;
        let missing = |field| ConfigError::new(field, "must be set");
        Ok(Pipeline {
            inner: Arc::new(Inner {
                mapper: self.mapper.ok_or_else(|| missing("mapper"))?,
                sink: self.sink.ok_or_else(|| missing("sink"))?,
                dead_letters: self.dead_letters.ok_or_else(|| missing("dead_letters"))?,
                metrics: self
                    .metrics
                    .unwrap_or_else(|| Arc::new(metrics_sink::DiscardMetrics)),
                faults: FaultInjector::new(self.config.percent_error),
                config: self.config,
                stats: PipelineStats::default(),
                control: Control::default(),
                put_time: self.put_time,
            }),
        })
    }
}
