//! Configuration of the Kinesis consumer, with the original system's defaults and the service's
//! limits.

use crate::limits::{
    GET_RECORDS_CALLS_PER_SECOND, MAX_GET_RECORDS_LIMIT, MIN_GET_RECORDS_INTERVAL,
};
use std::time::{Duration, SystemTime};
use stream2neptune_common::{Backoff, ConfigError};

/// Which stream to read or write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRef {
    /// By name, in the client's account and region.
    Name(String),
    /// By ARN (`arn:aws:kinesis:region:account:stream/name`).
    Arn(String),
}

impl StreamRef {
    /// A stream named `name`, or the ARN if `name` starts with `arn:`.
    pub fn parse(name_or_arn: impl Into<String>) -> Self {
        let s = name_or_arn.into();
        if s.starts_with("arn:") {
            StreamRef::Arn(s)
        } else {
            StreamRef::Name(s)
        }
    }
}

impl std::fmt::Display for StreamRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamRef::Name(n) | StreamRef::Arn(n) => f.write_str(n),
        }
    }
}

/// Where to start reading a shard that has no stored checkpoint. A stored checkpoint always wins:
/// reading resumes right after it (`AFTER_SEQUENCE_NUMBER`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartPosition {
    /// The oldest record the stream keeps.
    TrimHorizon,
    /// Only records written after the consumer started (the original system's
    /// `StartingPosition: LATEST`). Shards that are already closed at start-up are skipped.
    Latest,
    /// The first record written at or after this instant.
    AtTimestamp(SystemTime),
}

/// Checks that a backoff grows from a base above zero up to its cap.
pub(crate) fn check_backoff(field: &'static str, backoff: &Backoff) -> Result<(), ConfigError> {
    if backoff.base().is_zero() || backoff.validate(u32::MAX).is_err() {
        return Err(ConfigError::new(
            field,
            format!("needs 0 < base <= cap, got {backoff:?}"),
        ));
    }
    Ok(())
}

/// How a [`KinesisSource`](crate::KinesisSource) reads a stream. Made by
/// [`KinesisSourceConfig::builder`], which checks every value against the service's limits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KinesisSourceConfig {
    /// The stream.
    pub stream: StreamRef,
    /// Where shards without a checkpoint start. Default: [`StartPosition::Latest`], as the
    /// original's event source mapping. Shards created by a reshard while running always start
    /// at their first record.
    pub start_position: StartPosition,
    /// The largest batch handed to the consumer (the original's `BatchReadSize`, the event
    /// source mapping's batch size): default 1000, at most 10000.
    pub batch_read_size: usize,
    /// Records asked for per `GetRecords` call (KCL's `maxRecords`): default and at most
    /// 10000, the service's limit. A call's records are handed over in batches of at most
    /// `batch_read_size`; with 5 calls a second per shard, this is what lets a shard with a
    /// backlog be read faster than `5 × batch_read_size` records a second. It is lowered to
    /// what `max_unacked_records_per_shard` leaves room for.
    pub max_records_per_call: usize,
    /// Shortest gap between two `GetRecords` calls on one shard: default and minimum 200 ms,
    /// which keeps a shard under its 5 calls per second.
    pub min_call_interval: Duration,
    /// The longest wait after a `GetRecords` call that returned nothing: default 1 s (as KCL's
    /// `idleTimeBetweenReadsInMillis`). The wait starts at `min_call_interval` after the
    /// first empty answer and doubles with each empty answer in a row up to this, so while
    /// records flow a shard is read as often as its 5 calls/s allow (put-to-graph latency of a
    /// few hundred milliseconds), and an idle shard costs at most one call a second.
    pub idle_time_between_reads: Duration,
    /// How often `ListShards` is called to notice new shards: default 60 s (KCL's
    /// `shardSyncIntervalMillis`). Shards are also listed again whenever one is read to its end.
    pub shard_sync_interval: Duration,
    /// How often acknowledged progress is written to the checkpoint store: default 1 s.
    pub checkpoint_interval: Duration,
    /// Batches read ahead of the consumer, over all shards: default 16. Readers wait when the
    /// consumer falls behind (back-pressure).
    pub channel_capacity: usize,
    /// Records a shard may have delivered and not yet acknowledged before its reader pauses:
    /// default 10 000.
    pub max_unacked_records_per_shard: usize,
    /// Upper bound of every single call to the service: default 10 s.
    pub call_timeout: Duration,
    /// Backoff after throttling (`ProvisionedThroughputExceededException` and the like):
    /// default 200 ms doubling to 5 s, 10 retries in a row.
    pub throttle_backoff: Backoff,
    /// Backoff after transient errors (timeouts, 5xx): default 100 ms doubling to 5 s,
    /// 10 retries in a row.
    pub retry_backoff: Backoff,
    /// Backoff before a failed shard reader is restarted: default 1 s doubling to 30 s. After
    /// its retries (default 20) are used up by failures in a row without progress, the source
    /// fails with an error from `next_batch`.
    pub restart_backoff: Backoff,
    /// How long `shutdown` waits for in-flight batches to be acknowledged: default 30 s.
    pub shutdown_timeout: Duration,
    /// Read through enhanced fan-out (`SubscribeToShard`) as the consumer of this name,
    /// registered on the stream if needed, instead of polling `GetRecords`: records are pushed
    /// as they arrive, and each consumer has its own 2 MB/s per shard. Default `None`
    /// (polling, as the original's event source mapping). Names: 1 to 128 characters of
    /// `a-z A-Z 0-9 _ . -`.
    pub fan_out: Option<String>,
    /// Open records aggregated by the Kinesis Producer Library into their user records (see
    /// [`crate::kpl`]): default true, as KCL. Other records pass unchanged either way.
    pub deaggregate: bool,
}

impl KinesisSourceConfig {
    /// A builder holding the defaults for `stream`.
    ///
    /// ```
    /// use kinesis_source::{KinesisSourceConfig, StartPosition, StreamRef};
    ///
    /// let config = KinesisSourceConfig::builder(StreamRef::parse("follows"))
    ///     .start_position(StartPosition::TrimHorizon)
    ///     .batch_read_size(500)
    ///     .build()?;
    /// assert_eq!(config.batch_read_size, 500);
    ///
    /// let refused = KinesisSourceConfig::builder(StreamRef::parse("follows"))
    ///     .batch_read_size(20_000)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(refused.field, "batch_read_size");
    /// # Ok::<(), kinesis_source::ConfigError>(())
    /// ```
    pub fn builder(stream: StreamRef) -> KinesisSourceConfigBuilder {
        KinesisSourceConfigBuilder {
            config: Self {
                stream,
                start_position: StartPosition::Latest,
                batch_read_size: 1000,
                max_records_per_call: MAX_GET_RECORDS_LIMIT,
                min_call_interval: MIN_GET_RECORDS_INTERVAL,
                idle_time_between_reads: Duration::from_secs(1),
                shard_sync_interval: Duration::from_secs(60),
                checkpoint_interval: Duration::from_secs(1),
                channel_capacity: 16,
                max_unacked_records_per_shard: 10_000,
                call_timeout: Duration::from_secs(10),
                throttle_backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(5))
                    .with_max_retries(10),
                retry_backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
                    .with_max_retries(10),
                restart_backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(30))
                    .with_max_retries(20),
                shutdown_timeout: Duration::from_secs(30),
                deaggregate: true,
                fan_out: None,
            },
        }
    }

    /// Checks every field against the service's limits (what [`build`] does; the source checks
    /// again when it starts).
    ///
    /// [`build`]: KinesisSourceConfigBuilder::build
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_stream(&self.stream)?;
        if let Some(name) = &self.fan_out {
            check_consumer_name(name)?;
        }
        self.check_batches()?;
        self.check_pacing()?;
        if self.channel_capacity == 0 {
            return Err(ConfigError::new("channel_capacity", "must be at least 1"));
        }
        check_backoff("throttle_backoff", &self.throttle_backoff)?;
        check_backoff("retry_backoff", &self.retry_backoff)?;
        check_backoff("restart_backoff", &self.restart_backoff)
    }

    fn check_batches(&self) -> Result<(), ConfigError> {
        for (field, n) in [
            ("batch_read_size", self.batch_read_size),
            ("max_records_per_call", self.max_records_per_call),
        ] {
            if !(1..=MAX_GET_RECORDS_LIMIT).contains(&n) {
                return Err(ConfigError::new(
                    field,
                    format!("must be 1..={MAX_GET_RECORDS_LIMIT} (GetRecords Limit), got {n}"),
                ));
            }
        }
        if self.max_unacked_records_per_shard < self.batch_read_size {
            return Err(ConfigError::new(
                "max_unacked_records_per_shard",
                format!(
                    "must be at least batch_read_size ({}), got {}",
                    self.batch_read_size, self.max_unacked_records_per_shard
                ),
            ));
        }
        Ok(())
    }

    fn check_pacing(&self) -> Result<(), ConfigError> {
        if self.min_call_interval < MIN_GET_RECORDS_INTERVAL {
            return Err(ConfigError::new(
                "min_call_interval",
                format!(
                    "must be at least {MIN_GET_RECORDS_INTERVAL:?} ({GET_RECORDS_CALLS_PER_SECOND} GetRecords calls/s per shard), got {:?}",
                    self.min_call_interval
                ),
            ));
        }
        if self.idle_time_between_reads < self.min_call_interval {
            return Err(ConfigError::new(
                "idle_time_between_reads",
                format!(
                    "must be at least min_call_interval ({:?}), got {:?}",
                    self.min_call_interval, self.idle_time_between_reads
                ),
            ));
        }
        for (field, d) in [
            ("shard_sync_interval", self.shard_sync_interval),
            ("checkpoint_interval", self.checkpoint_interval),
            ("call_timeout", self.call_timeout),
        ] {
            if d < Duration::from_millis(10) {
                return Err(ConfigError::new(
                    field,
                    format!("must be at least 10 ms, got {d:?}"),
                ));
            }
        }
        Ok(())
    }
}

fn check_stream(stream: &StreamRef) -> Result<(), ConfigError> {
    match stream {
        StreamRef::Name(n) if n.is_empty() || n.len() > 128 => Err(ConfigError::new(
            "stream",
            format!("name must be 1..=128 characters, got {n:?}"),
        )),
        StreamRef::Arn(a) if !a.starts_with("arn:") || a.len() > 2048 => Err(ConfigError::new(
            "stream",
            format!("{a:?} is not a stream ARN"),
        )),
        _ => Ok(()),
    }
}

fn check_consumer_name(name: &str) -> Result<(), ConfigError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if name.is_empty() || name.len() > 128 || !name.chars().all(allowed) {
        return Err(ConfigError::new(
            "fan_out",
            format!("a consumer name is 1..=128 characters of a-z A-Z 0-9 _ . -, got {name:?}"),
        ));
    }
    Ok(())
}

/// Builds a [`KinesisSourceConfig`]: each setter replaces one default (see the field of the
/// same name), and [`build`](Self::build) checks the result.
#[derive(Debug, Clone)]
#[must_use]
pub struct KinesisSourceConfigBuilder {
    config: KinesisSourceConfig,
}

/// Setters named after the fields they set, each documented on the field.
macro_rules! setters {
    ($($field:ident: $ty:ty),* $(,)?) => {
        $(
            #[doc = concat!("Sets [`KinesisSourceConfig::", stringify!($field), "`].")]
            pub fn $field(mut self, value: $ty) -> Self {
                self.config.$field = value;
                self
            }
        )*
    };
}

impl KinesisSourceConfigBuilder {
    setters! {
        start_position: StartPosition,
        batch_read_size: usize,
        max_records_per_call: usize,
        min_call_interval: Duration,
        idle_time_between_reads: Duration,
        shard_sync_interval: Duration,
        checkpoint_interval: Duration,
        channel_capacity: usize,
        max_unacked_records_per_shard: usize,
        call_timeout: Duration,
        throttle_backoff: Backoff,
        retry_backoff: Backoff,
        restart_backoff: Backoff,
        shutdown_timeout: Duration,
        deaggregate: bool,
    }

    /// Sets [`KinesisSourceConfig::fan_out`]: a consumer name, or `None` to poll.
    pub fn fan_out(mut self, consumer: impl Into<Option<String>>) -> Self {
        self.config.fan_out = consumer.into();
        self
    }

    /// The configuration, if every value is within the service's limits; else the first field
    /// that is not.
    pub fn build(self) -> Result<KinesisSourceConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stream2neptune_common::{Classify, ErrorKind};

    fn builder() -> KinesisSourceConfigBuilder {
        KinesisSourceConfig::builder(StreamRef::parse("s"))
    }

    #[test]
    fn defaults_are_the_originals_and_valid() {
        let c = KinesisSourceConfig::builder(StreamRef::parse("follows"))
            .build()
            .unwrap();
        assert_eq!(c.batch_read_size, 1000);
        assert_eq!(c.start_position, StartPosition::Latest);
        assert_eq!(c.stream, StreamRef::Name("follows".into()));
        assert_eq!(c.restart_backoff.max_retries(), Some(20));
    }

    #[test]
    fn out_of_limit_values_name_their_field() {
        let field = |b: KinesisSourceConfigBuilder| b.build().unwrap_err().field;
        assert_eq!(field(builder().batch_read_size(10_001)), "batch_read_size");
        assert_eq!(
            field(builder().min_call_interval(Duration::from_millis(100))),
            "min_call_interval"
        );
        assert_eq!(
            field(builder().max_unacked_records_per_shard(10)),
            "max_unacked_records_per_shard"
        );
        assert_eq!(
            field(KinesisSourceConfig::builder(StreamRef::parse(""))),
            "stream"
        );
        for bad in ["", "has space", "slash/in", &"x".repeat(129)] {
            assert_eq!(
                field(builder().fan_out(bad.to_owned())),
                "fan_out",
                "{bad:?}"
            );
        }
        let backwards = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(field(builder().retry_backoff(backwards)), "retry_backoff");
        let from_zero = Backoff::new(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(
            field(builder().restart_backoff(from_zero)),
            "restart_backoff"
        );
        assert_eq!(field(builder().channel_capacity(0)), "channel_capacity");
        builder()
            .fan_out("graph-writer_1.v2".to_owned())
            .build()
            .unwrap();
        assert_eq!(
            StreamRef::parse("arn:aws:kinesis:us-east-1:1:stream/s"),
            StreamRef::Arn("arn:aws:kinesis:us-east-1:1:stream/s".into())
        );
        assert_eq!(
            builder().batch_read_size(0).build().unwrap_err().kind(),
            ErrorKind::Usage
        );
    }
}
