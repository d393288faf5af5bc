//! The protocol's messages, one JSON object per line, told apart by their `action` field.
//!
//! The daemon writes [`Incoming`] messages to the processor's standard input; the processor
//! writes [`Outgoing`] messages to its standard output. Field names are the daemon's (camel
//! case). The daemon reads with a strict JSON mapper that refuses unknown fields, so an outgoing
//! message carries only the fields the daemon knows, and leaves out those that are empty; an
//! incoming message may carry fields this crate does not know, which are ignored.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A message from the daemon to the processor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action")]
#[non_exhaustive]
pub enum Incoming {
    /// The processor was given a shard: the first message it receives.
    #[serde(rename = "initialize", rename_all = "camelCase")]
    Initialize {
        /// The shard this process is for (one process per shard lease).
        shard_id: String,
        /// Where the lease's checkpoint stands (`TRIM_HORIZON`, `LATEST` or a sequence number),
        /// when the daemon says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sequence_number: Option<String>,
        /// The checkpoint's sub-sequence number (a user record inside a KPL aggregate).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sub_sequence_number: Option<i64>,
    },
    /// Records of the shard, in shard order, after those of the previous message.
    #[serde(rename = "processRecords", rename_all = "camelCase")]
    ProcessRecords {
        /// The records (KPL aggregates already opened by the daemon).
        records: Vec<KclRecord>,
        /// How far the read is behind the tip of the shard.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        millis_behind_latest: Option<i64>,
    },
    /// Another worker holds the shard now: stop writing it at once. Checkpointing is no
    /// longer possible.
    #[serde(rename = "leaseLost")]
    LeaseLost,
    /// Every record of the shard was delivered (it was split or merged): checkpoint its end, so
    /// that its children can start.
    #[serde(rename = "shardEnded")]
    ShardEnded,
    /// The worker is shutting down, or handing the lease over gracefully: checkpoint what is
    /// done.
    #[serde(rename = "shutdownRequested")]
    ShutdownRequested,
    /// The older form of the end of a lease, with its reason (`TERMINATE` at a shard's end,
    /// `ZOMBIE` when the lease was lost). Current daemons send [`Incoming::LeaseLost`] and
    /// [`Incoming::ShardEnded`] instead.
    #[serde(rename = "shutdown")]
    Shutdown {
        /// Why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The daemon's answer to a checkpoint request.
    #[serde(rename = "checkpoint", rename_all = "camelCase")]
    Checkpoint {
        /// The position that was asked for (none: the last record delivered).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sequence_number: Option<String>,
        /// Its sub-sequence number, if one was asked for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sub_sequence_number: Option<i64>,
        /// The simple name of the exception the checkpoint raised in the daemon; none on success.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

impl Incoming {
    /// The message's `action` field: what a status message answers.
    pub fn action(&self) -> &'static str {
        match self {
            Incoming::Initialize { .. } => "initialize",
            Incoming::ProcessRecords { .. } => "processRecords",
            Incoming::LeaseLost => "leaseLost",
            Incoming::ShardEnded => "shardEnded",
            Incoming::ShutdownRequested => "shutdownRequested",
            Incoming::Shutdown { .. } => "shutdown",
            Incoming::Checkpoint { .. } => "checkpoint",
        }
    }

    /// Parses one line from the daemon.
    pub fn from_line(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }
}

/// A message from the processor to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action")]
#[non_exhaustive]
pub enum Outgoing {
    /// The processor is done with the message whose action it names; the daemon waits for it
    /// before it sends anything else.
    #[serde(rename = "status", rename_all = "camelCase")]
    Status {
        /// The action of the message this answers.
        response_for: String,
    },
    /// Asks the daemon to store the shard's checkpoint in its lease table. Both fields empty:
    /// the last record delivered (and, in answer to [`Incoming::ShardEnded`], the shard's end).
    #[serde(rename = "checkpoint", rename_all = "camelCase")]
    Checkpoint {
        /// Every record up to and including this one was processed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sequence_number: Option<String>,
        /// Inside a KPL aggregate: every user record up to and including this one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sub_sequence_number: Option<i64>,
    },
}

impl Outgoing {
    /// The message as one line, without its line end.
    pub fn to_line(&self) -> String {
        // Serializing plain strings and integers cannot fail.
        serde_json::to_string(self).expect("outgoing messages always serialize")
    }
}

/// One record as the daemon sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KclRecord {
    /// The payload (base64 on the wire).
    #[serde(with = "base64_bytes", default)]
    pub data: Vec<u8>,
    /// The producer's partition key.
    pub partition_key: String,
    /// Its position in the shard.
    pub sequence_number: String,
    /// Its index inside a KPL aggregate (0 for a record put as such).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_sequence_number: Option<i64>,
    /// When Kinesis accepted it, in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_arrival_timestamp: Option<i64>,
}

impl KclRecord {
    /// [`KclRecord::approximate_arrival_timestamp`] as a time.
    pub fn approximate_arrival(&self) -> Option<SystemTime> {
        let ms = u64::try_from(self.approximate_arrival_timestamp?).ok()?;
        UNIX_EPOCH.checked_add(Duration::from_millis(ms))
    }
}

/// Bytes as a base64 string (the daemon's JSON mapper writes `byte[]` that way).
mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        match text {
            None => Ok(Vec::new()),
            Some(t) => STANDARD
                .decode(t.as_bytes())
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_initialize_message_as_the_daemon_writes_it() {
        let line = r#"{"action":"initialize","shardId":"shardId-000000000001","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}"#;
        assert_eq!(
            Incoming::from_line(line).unwrap(),
            Incoming::Initialize {
                shard_id: "shardId-000000000001".into(),
                sequence_number: Some("TRIM_HORIZON".into()),
                sub_sequence_number: Some(0),
            }
        );
    }

    #[test]
    fn an_initialize_message_without_a_checkpoint() {
        let line = r#"{"action":"initialize","shardId":"s","sequenceNumber":null,"subSequenceNumber":null}"#;
        assert_eq!(
            Incoming::from_line(line).unwrap(),
            Incoming::Initialize {
                shard_id: "s".into(),
                sequence_number: None,
                sub_sequence_number: None,
            }
        );
    }

    #[test]
    fn records_carry_base64_data_sequence_numbers_keys_and_arrival_times() {
        let line = r#"{"action":"processRecords","records":[
            {"data":"cDEscDIsMjAxOS0wMS0wMQ==","partitionKey":"p1","sequenceNumber":"4959","approximateArrivalTimestamp":1700000000123,"subSequenceNumber":0,"action":"record"},
            {"data":"","partitionKey":"p2","sequenceNumber":"4960","approximateArrivalTimestamp":null,"subSequenceNumber":3,"action":"record"}
        ],"millisBehindLatest":250}"#;
        let Incoming::ProcessRecords {
            records,
            millis_behind_latest,
        } = Incoming::from_line(&line.replace('\n', "")).unwrap()
        else {
            panic!("not processRecords");
        };
        assert_eq!(millis_behind_latest, Some(250));
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].data, b"p1,p2,2019-01-01");
        assert_eq!(records[0].partition_key, "p1");
        assert_eq!(records[0].sequence_number, "4959");
        assert_eq!(records[0].sub_sequence_number, Some(0));
        assert_eq!(
            records[0].approximate_arrival(),
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123))
        );
        assert!(records[1].data.is_empty());
        assert_eq!(records[1].sub_sequence_number, Some(3));
        assert_eq!(records[1].approximate_arrival(), None);
    }

    #[test]
    fn binary_data_survives_the_round_trip() {
        let record = KclRecord {
            data: (0..=255u8).collect(),
            partition_key: "k".into(),
            sequence_number: "1".into(),
            sub_sequence_number: None,
            approximate_arrival_timestamp: Some(5),
        };
        let line = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<KclRecord>(&line).unwrap(), record);
    }

    #[test]
    fn data_that_is_not_base64_is_refused() {
        let line = r#"{"action":"processRecords","records":[{"data":"***","partitionKey":"p","sequenceNumber":"1"}]}"#;
        assert!(Incoming::from_line(line).is_err());
    }

    #[test]
    fn the_lifecycle_messages_and_their_actions() {
        for (line, action) in [
            (r#"{"action":"leaseLost"}"#, "leaseLost"),
            (r#"{"action":"shardEnded"}"#, "shardEnded"),
            (r#"{"action":"shutdownRequested"}"#, "shutdownRequested"),
            (r#"{"action":"shutdown","reason":"TERMINATE"}"#, "shutdown"),
        ] {
            assert_eq!(Incoming::from_line(line).unwrap().action(), action);
        }
    }

    #[test]
    fn a_checkpoint_answer_names_the_exception() {
        let line = r#"{"action":"checkpoint","sequenceNumber":"12","subSequenceNumber":null,"error":"ShutdownException"}"#;
        assert_eq!(
            Incoming::from_line(line).unwrap(),
            Incoming::Checkpoint {
                sequence_number: Some("12".into()),
                sub_sequence_number: None,
                error: Some("ShutdownException".into()),
            }
        );
    }

    #[test]
    fn unknown_incoming_fields_are_ignored_and_unknown_actions_refused() {
        assert_eq!(
            Incoming::from_line(r#"{"action":"leaseLost","extra":1}"#).unwrap(),
            Incoming::LeaseLost
        );
        assert!(Incoming::from_line(r#"{"action":"explode"}"#).is_err());
        assert!(Incoming::from_line("not json").is_err());
    }

    #[test]
    fn outgoing_messages_carry_only_the_fields_the_daemon_knows() {
        assert_eq!(
            Outgoing::Status {
                response_for: "processRecords".into()
            }
            .to_line(),
            r#"{"action":"status","responseFor":"processRecords"}"#
        );
        assert_eq!(
            Outgoing::Checkpoint {
                sequence_number: Some("42".into()),
                sub_sequence_number: None
            }
            .to_line(),
            r#"{"action":"checkpoint","sequenceNumber":"42"}"#
        );
        assert_eq!(
            Outgoing::Checkpoint {
                sequence_number: Some("42".into()),
                sub_sequence_number: Some(2)
            }
            .to_line(),
            r#"{"action":"checkpoint","sequenceNumber":"42","subSequenceNumber":2}"#
        );
        assert_eq!(
            Outgoing::Checkpoint {
                sequence_number: None,
                sub_sequence_number: None
            }
            .to_line(),
            r#"{"action":"checkpoint"}"#
        );
    }
}
