//! The Kinesis event of the Lambda event source mapping: reading its records, and writing one
//! from records read off a stream (to invoke the handler locally exactly as Lambda would).

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use base64::Engine;
use kinesis_source::{Record, SequenceNumber};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A record of the event that cannot be located in its shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event record {index}: {reason}")]
pub struct EventError {
    /// Its position in the event.
    pub index: usize,
    /// What is missing.
    pub reason: String,
}

/// The shard id of an event record: its `eventID` is `<shardId>:<sequenceNumber>`.
pub fn shard_of(record: &KinesisEventRecord) -> Option<&str> {
    record
        .event_id
        .as_deref()
        .and_then(|id| id.split_once(':'))
        .map(|(shard, _)| shard)
        .filter(|s| !s.is_empty())
}

/// The event's records as the workspace's [`Record`]s, in the event's order (which is the
/// shard's: the mapping delivers one shard's records in order). The payload was base64 in the
/// JSON document and is already decoded here. Records aggregated by the Kinesis Producer
/// Library are opened into their user records (the mapping does not do it), which share the
/// aggregate's sequence number: a failure in one makes the mapping retry from the aggregate.
pub fn records_of(event: &KinesisEvent) -> Result<Vec<Record>, EventError> {
    let mut out = Vec::with_capacity(event.records.len());
    for (index, r) in event.records.iter().enumerate() {
        if r.kinesis.sequence_number.is_empty() {
            return Err(EventError {
                index,
                reason: "it has no kinesis.sequenceNumber".into(),
            });
        }
        let arrival = r.kinesis.approximate_arrival_timestamp.0;
        let mut record = Record::new(
            shard_of(r).unwrap_or("unknown-shard"),
            SequenceNumber::new(r.kinesis.sequence_number.clone()),
            r.kinesis.partition_key.clone(),
            r.kinesis.data.0.clone(),
        );
        record.approximate_arrival = u64::try_from(arrival.timestamp_millis())
            .ok()
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
        out.extend(kinesis_source::kpl::deaggregate(record));
    }
    Ok(out)
}

/// Where the records of an event come from, as the event names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSource {
    /// The stream's ARN (`eventSourceARN`).
    pub stream_arn: String,
    /// The region (`awsRegion`).
    pub region: String,
    /// The shard the records were read from.
    pub shard_id: String,
    /// The function's role (`invokeIdentityArn`).
    pub invoke_identity_arn: String,
}

/// The JSON document the event source mapping sends for `records` of one shard: `Records`
/// with `eventSource` `aws:kinesis`, `eventID` `<shardId>:<sequenceNumber>`, `eventName`
/// `aws:kinesis:record`, and `kinesis` holding the partition key, the sequence number, the
/// payload in base64 and the arrival time in fractional epoch seconds.
pub fn event_document(source: &EventSource, records: &[aws_sdk_kinesis::types::Record]) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let items: Vec<Value> = records
        .iter()
        .map(|r| {
            let arrival = r
                .approximate_arrival_timestamp()
                .map(|t| t.as_secs_f64())
                .unwrap_or_else(|| {
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_secs_f64())
                        .unwrap_or(0.0)
                });
            // Lambda gives the arrival time with millisecond precision.
            let arrival = (arrival * 1000.0).round() / 1000.0;
            let seq = r.sequence_number();
            let mut kinesis = json!({
                "kinesisSchemaVersion": "1.0",
                "partitionKey": r.partition_key(),
                "sequenceNumber": seq,
                "data": b64.encode(r.data().as_ref()),
                "approximateArrivalTimestamp": arrival,
            });
            if let Some(enc) = r.encryption_type() {
                kinesis["encryptionType"] = json!(enc.as_str());
            }
            json!({
                "kinesis": kinesis,
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{}:{}", source.shard_id, seq),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": source.invoke_identity_arn,
                "awsRegion": source.region,
                "eventSourceARN": source.stream_arn,
            })
        })
        .collect();
    json!({ "Records": items })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_round_trips_through_the_lambda_event_type() {
        let record = aws_sdk_kinesis::types::Record::builder()
            .sequence_number("49590338271490256608559692538361571095921575989136588898")
            .partition_key("1")
            .data(aws_sdk_kinesis::primitives::Blob::new(
                b"1,2,2019-01-02".to_vec(),
            ))
            .approximate_arrival_timestamp(aws_sdk_kinesis::primitives::DateTime::from_millis(
                1_546_387_200_123,
            ))
            .build()
            .unwrap();
        let source = EventSource {
            stream_arn: "arn:aws:kinesis:us-east-1:000000000000:stream/s".into(),
            region: "us-east-1".into(),
            shard_id: "shardId-000000000000".into(),
            invoke_identity_arn: "arn:aws:iam::000000000000:role/writer".into(),
        };
        let doc = event_document(&source, &[record]);
        assert_eq!(doc["Records"][0]["kinesis"]["data"], "MSwyLDIwMTktMDEtMDI=");
        let event: KinesisEvent = serde_json::from_value(doc).unwrap();
        let records = records_of(&event).unwrap();
        assert_eq!(records[0].shard_id, "shardId-000000000000");
        assert_eq!(&records[0].data[..], b"1,2,2019-01-02");
        assert_eq!(
            records[0].approximate_arrival,
            Some(UNIX_EPOCH + Duration::from_millis(1_546_387_200_123))
        );
    }

    #[test]
    fn a_record_without_a_sequence_number_is_refused() {
        let doc =
            json!({"Records": [{"kinesis": {"data": "", "approximateArrivalTimestamp": 1.0}}]});
        let event: KinesisEvent = serde_json::from_value(doc).unwrap();
        assert_eq!(records_of(&event).unwrap_err().index, 0);
    }
}
