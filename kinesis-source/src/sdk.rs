//! [`KinesisApi`] over the real `aws-sdk-kinesis` client (feature `kinesis`).

use crate::api::{
    classify_code, ApiError, ApiErrorKind, FanOutEvent, GetRecordsOutput, IteratorStart,
    KinesisApi, PutEntry, PutEntryResult, ShardInfo, ShardSubscription,
};
use crate::checkpoint::StreamIdentity;
use crate::config::StreamRef;
use crate::record::{Record, SequenceNumber, ShardId};
use async_trait::async_trait;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::subscribe_to_shard::SubscribeToShardOutput;
use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::{
    ConsumerStatus, PutRecordsRequestEntry, ShardIteratorType, StartingPosition,
    SubscribeToShardEventStream,
};
use bytes::Bytes;
use std::time::SystemTime;

/// [`KinesisApi`] over the real `aws-sdk-kinesis` client.
#[derive(Debug, Clone)]
pub struct SdkKinesisApi {
    client: aws_sdk_kinesis::Client,
}

impl SdkKinesisApi {
    /// Wraps a client (configure its endpoint, credentials and timeouts as usual).
    pub fn new(client: aws_sdk_kinesis::Client) -> Self {
        Self { client }
    }
}

/// The innermost error of a chain: for a failed connection, the operating system's words
/// ("Connection refused (os error 111)") rather than the SDK's layers around them.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// The SDK's error as an [`ApiError`] of the kind that decides its retries, the SDK's error
/// kept as its source.
fn classify<E>(operation: &'static str, err: SdkError<E>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let error = match &err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let kind = classify_code(ctx.err().code(), Some(status));
            let message = format!(
                "{}: {}",
                ctx.err().code().unwrap_or("unknown error"),
                ctx.err().message().unwrap_or("no message")
            );
            ApiError::new(operation, kind, message)
        }
        SdkError::TimeoutError(_) => ApiError::new(
            operation,
            ApiErrorKind::Transient,
            format!(
                "no answer from the Kinesis endpoint in time: {}",
                root_cause(&err)
            ),
        ),
        SdkError::DispatchFailure(_) => ApiError::new(
            operation,
            ApiErrorKind::Transient,
            format!("cannot reach the Kinesis endpoint: {}", root_cause(&err)),
        ),
        SdkError::ResponseError(_) => ApiError::new(
            operation,
            ApiErrorKind::Transient,
            format!(
                "unreadable answer from the Kinesis endpoint: {}",
                root_cause(&err)
            ),
        ),
        _ => ApiError::new(
            operation,
            ApiErrorKind::Fatal,
            aws_sdk_kinesis::error::DisplayErrorContext(&err).to_string(),
        ),
    };
    error.with_source(err)
}

#[async_trait]
impl KinesisApi for SdkKinesisApi {
    async fn describe_stream(&self, stream: &StreamRef) -> Result<StreamIdentity, ApiError> {
        let req = match stream {
            StreamRef::Name(n) => self.client.describe_stream_summary().stream_name(n),
            StreamRef::Arn(a) => self.client.describe_stream_summary().stream_arn(a),
        };
        let out = req
            .send()
            .await
            .map_err(|e| classify("DescribeStreamSummary", e))?;
        let summary = out.stream_description_summary().ok_or_else(|| {
            ApiError::new(
                "DescribeStreamSummary",
                ApiErrorKind::Fatal,
                "the answer holds no stream summary",
            )
        })?;
        Ok(StreamIdentity {
            name: summary.stream_name().to_owned(),
            arn: summary.stream_arn().to_owned(),
        })
    }

    async fn list_shards(
        &self,
        stream: &StreamRef,
        next_token: Option<String>,
    ) -> Result<(Vec<ShardInfo>, Option<String>), ApiError> {
        let mut req = self.client.list_shards();
        // The service refuses a stream name beside a NextToken: the token already names it.
        req = match next_token {
            Some(t) => req.next_token(t),
            None => match stream {
                StreamRef::Name(n) => req.stream_name(n),
                StreamRef::Arn(a) => req.stream_arn(a),
            },
        };
        let out = req.send().await.map_err(|e| classify("ListShards", e))?;
        let shards = out
            .shards()
            .iter()
            .map(|s| ShardInfo {
                shard_id: s.shard_id().to_owned(),
                parent_shard_id: s.parent_shard_id().map(str::to_owned),
                adjacent_parent_shard_id: s.adjacent_parent_shard_id().map(str::to_owned),
                ending_sequence_number: s
                    .sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .map(SequenceNumber::from),
            })
            .collect();
        Ok((shards, out.next_token().map(str::to_owned)))
    }

    async fn get_shard_iterator(
        &self,
        stream: &StreamRef,
        shard_id: &str,
        start: &IteratorStart,
    ) -> Result<String, ApiError> {
        let mut req = self.client.get_shard_iterator().shard_id(shard_id);
        req = match stream {
            StreamRef::Name(n) => req.stream_name(n),
            StreamRef::Arn(a) => req.stream_arn(a),
        };
        req = match start {
            IteratorStart::TrimHorizon => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            IteratorStart::Latest => req.shard_iterator_type(ShardIteratorType::Latest),
            IteratorStart::AtTimestamp(t) => req
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(DateTime::from(*t)),
            IteratorStart::AfterSequence(s) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(s.as_str()),
            IteratorStart::AtSequence(s) => req
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .starting_sequence_number(s.as_str()),
        };
        let out = req
            .send()
            .await
            .map_err(|e| classify("GetShardIterator", e))?;
        out.shard_iterator().map(str::to_owned).ok_or_else(|| {
            ApiError::new(
                "GetShardIterator",
                ApiErrorKind::Transient,
                "the answer holds no shard iterator",
            )
        })
    }

    async fn get_records(
        &self,
        shard_id: &str,
        iterator: &str,
        limit: i32,
    ) -> Result<GetRecordsOutput, ApiError> {
        let out = self
            .client
            .get_records()
            .shard_iterator(iterator)
            .limit(limit)
            .send()
            .await
            .map_err(|e| classify("GetRecords", e))?;
        let next_iterator = out.next_shard_iterator().map(str::to_owned);
        let millis_behind_latest = out.millis_behind_latest().map(|m| m.max(0) as u64);
        let records = out
            .records
            .into_iter()
            .map(|r| record_of(shard_id, r))
            .collect();
        Ok(GetRecordsOutput {
            records,
            next_iterator,
            millis_behind_latest,
        })
    }

    async fn put_records(
        &self,
        stream: &StreamRef,
        entries: &[PutEntry],
    ) -> Result<Vec<PutEntryResult>, ApiError> {
        let mut built = Vec::with_capacity(entries.len());
        for e in entries {
            let entry = PutRecordsRequestEntry::builder()
                .partition_key(&e.partition_key)
                .data(Blob::new(e.data.to_vec()))
                .set_explicit_hash_key(e.explicit_hash_key.clone())
                .build()
                .map_err(|err| {
                    ApiError::new("PutRecords", ApiErrorKind::Fatal, err.to_string())
                        .with_source(err)
                })?;
            built.push(entry);
        }
        let mut req = self.client.put_records().set_records(Some(built));
        req = match stream {
            StreamRef::Name(n) => req.stream_name(n),
            StreamRef::Arn(a) => req.stream_arn(a),
        };
        let out = req.send().await.map_err(|e| classify("PutRecords", e))?;
        if out.records().len() != entries.len() {
            return Err(ApiError::new(
                "PutRecords",
                ApiErrorKind::Transient,
                format!(
                    "{} results for {} entries",
                    out.records().len(),
                    entries.len()
                ),
            ));
        }
        Ok(out
            .records()
            .iter()
            .map(
                |r| match (r.error_code(), r.shard_id(), r.sequence_number()) {
                    (None, Some(shard), Some(seq)) => PutEntryResult::Ok {
                        shard_id: shard.to_owned(),
                        sequence_number: SequenceNumber::from(seq),
                    },
                    (code, _, _) => PutEntryResult::Failed {
                        code: code.unwrap_or("MissingResult").to_owned(),
                        message: r.error_message().unwrap_or_default().to_owned(),
                    },
                },
            )
            .collect())
    }

    async fn register_consumer(
        &self,
        stream: &StreamRef,
        name: &str,
    ) -> Result<(String, bool), ApiError> {
        let stream_arn = match stream {
            StreamRef::Arn(a) => a.clone(),
            StreamRef::Name(n) => self
                .client
                .describe_stream_summary()
                .stream_name(n)
                .send()
                .await
                .map_err(|e| classify("DescribeStreamSummary", e))?
                .stream_description_summary
                .map(|s| s.stream_arn)
                .ok_or_else(|| {
                    ApiError::new(
                        "DescribeStreamSummary",
                        ApiErrorKind::Transient,
                        "the answer holds no stream",
                    )
                })?,
        };
        let registered = self
            .client
            .register_stream_consumer()
            .stream_arn(&stream_arn)
            .consumer_name(name)
            .send()
            .await;
        match registered {
            Ok(out) => out
                .consumer
                .map(|c| (c.consumer_arn, c.consumer_status == ConsumerStatus::Active))
                .ok_or_else(|| {
                    ApiError::new(
                        "RegisterStreamConsumer",
                        ApiErrorKind::Transient,
                        "the answer holds no consumer",
                    )
                }),
            // Registered before (by this process's last run, or another): use it.
            Err(e) if e.code() == Some("ResourceInUseException") => self
                .client
                .describe_stream_consumer()
                .stream_arn(&stream_arn)
                .consumer_name(name)
                .send()
                .await
                .map_err(|e| classify("DescribeStreamConsumer", e))?
                .consumer_description
                .map(|c| (c.consumer_arn, c.consumer_status == ConsumerStatus::Active))
                .ok_or_else(|| {
                    ApiError::new(
                        "DescribeStreamConsumer",
                        ApiErrorKind::Transient,
                        "the answer holds no consumer",
                    )
                }),
            Err(e) => Err(classify("RegisterStreamConsumer", e)),
        }
    }

    async fn consumer_active(&self, consumer_arn: &str) -> Result<bool, ApiError> {
        let out = self
            .client
            .describe_stream_consumer()
            .consumer_arn(consumer_arn)
            .send()
            .await
            .map_err(|e| classify("DescribeStreamConsumer", e))?;
        Ok(out
            .consumer_description
            .is_some_and(|c| c.consumer_status == ConsumerStatus::Active))
    }

    async fn subscribe_to_shard(
        &self,
        consumer_arn: &str,
        shard_id: &str,
        start: &IteratorStart,
    ) -> Result<Box<dyn ShardSubscription>, ApiError> {
        let position = StartingPosition::builder();
        let position = match start {
            IteratorStart::TrimHorizon => position.r#type(ShardIteratorType::TrimHorizon),
            IteratorStart::Latest => position.r#type(ShardIteratorType::Latest),
            IteratorStart::AtTimestamp(t) => position
                .r#type(ShardIteratorType::AtTimestamp)
                .timestamp(DateTime::from(*t)),
            IteratorStart::AfterSequence(s) => position
                .r#type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(s.as_str()),
            IteratorStart::AtSequence(s) => position
                .r#type(ShardIteratorType::AtSequenceNumber)
                .sequence_number(s.as_str()),
        }
        .build()
        .map_err(|e| {
            ApiError::new("SubscribeToShard", ApiErrorKind::Fatal, e.to_string()).with_source(e)
        })?;
        let out = self
            .client
            .subscribe_to_shard()
            .consumer_arn(consumer_arn)
            .shard_id(shard_id)
            .starting_position(position)
            .send()
            .await
            .map_err(|e| {
                // A subscription to the shard is still open (a new one is allowed 5 s after
                // the last): wait and try again, as after throttling.
                let in_use = e.code() == Some("ResourceInUseException");
                let mut error = classify("SubscribeToShard", e);
                if in_use {
                    error.kind = ApiErrorKind::Throttled;
                }
                error
            })?;
        Ok(Box::new(SdkSubscription {
            shard_id: shard_id.to_owned(),
            out,
        }))
    }
}

/// A record as the SDK gives it, as this crate's [`Record`].
fn record_of(shard_id: &str, r: aws_sdk_kinesis::types::Record) -> Record {
    Record {
        shard_id: shard_id.to_owned(),
        sequence_number: SequenceNumber::new(r.sequence_number),
        sub_sequence_number: None,
        partition_key: r.partition_key.unwrap_or_default(),
        data: Bytes::from(r.data.into_inner()),
        approximate_arrival: r
            .approximate_arrival_timestamp
            .and_then(|t| SystemTime::try_from(t).ok()),
    }
}

/// [`ShardSubscription`] over the SDK's event stream.
struct SdkSubscription {
    shard_id: ShardId,
    /// Holds the event stream (`event_stream`).
    out: SubscribeToShardOutput,
}

#[async_trait]
impl ShardSubscription for SdkSubscription {
    async fn next_event(&mut self) -> Result<Option<FanOutEvent>, ApiError> {
        let event = loop {
            match self.out.event_stream.recv().await {
                Ok(Some(SubscribeToShardEventStream::SubscribeToShardEvent(e))) => break e,
                // Other event kinds may be added to the protocol: nothing to deliver in them.
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(None),
                Err(e) => return Err(event_stream_error(e)),
            }
        };
        let continuation = Some(event.continuation_sequence_number)
            .filter(|c| !c.is_empty())
            .map(SequenceNumber::new);
        Ok(Some(FanOutEvent {
            records: event
                .records
                .into_iter()
                .map(|r| record_of(&self.shard_id, r))
                .collect(),
            continuation,
            millis_behind_latest: Some(event.millis_behind_latest.max(0) as u64),
            child_shards: event
                .child_shards
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.shard_id)
                .collect(),
        }))
    }
}

/// A failed read of the subscription's event stream, the SDK's error kept as its source.
fn event_stream_error<R>(
    e: SdkError<aws_sdk_kinesis::types::error::SubscribeToShardEventStreamError, R>,
) -> ApiError
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let error = match &e {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code();
            ApiError::new(
                "SubscribeToShard",
                classify_code(code, None),
                format!(
                    "{}: {}",
                    code.unwrap_or("unknown error"),
                    ctx.err().message().unwrap_or("no message")
                ),
            )
        }
        _ => ApiError::new(
            "SubscribeToShard",
            ApiErrorKind::Transient,
            aws_sdk_kinesis::error::DisplayErrorContext(&e).to_string(),
        ),
    };
    error.with_source(e)
}
