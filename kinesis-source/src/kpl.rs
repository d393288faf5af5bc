//! Records aggregated by the Kinesis Producer Library (KPL): many user records packed into one
//! Kinesis record, so that small records cost fewer PUT payload units and a shard's limit of
//! 1 000 records/s is reached later.
//!
//! The format (the KPL's "aggregation format") is the 4 magic bytes `F3 89 9A C2`, a protobuf
//! (proto2) `AggregatedRecord` message, then the 16-byte MD5 digest of that message. The
//! message holds a table of partition keys, a table of explicit hash keys, and the user
//! records, each naming its keys by index into the tables. A user record's position is the
//! Kinesis record's sequence number plus its index in the message, its *sub-sequence number*.
//!
//! [`deaggregate`] turns one Kinesis record into its user records (any other record, or one
//! whose digest or message is damaged, comes back unchanged: nothing is dropped);
//! [`Aggregator`] packs user records into such payloads, for producers that want to aggregate
//! and for tests. The messages are declared with `prost`'s derive, so no `.proto` compiler or
//! build script is needed.

use crate::limits::MAX_RECORD_BYTES;
use crate::record::Record;
use bytes::Bytes;
use md5::{Digest, Md5};
use prost::Message;
use std::collections::HashMap;
use stream2neptune_common::{Classify, ErrorKind};

/// The first 4 bytes of every aggregated record.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
/// The length of the MD5 digest that ends every aggregated record.
const DIGEST_LEN: usize = 16;

#[derive(Clone, PartialEq, Message)]
struct AggregatedRecord {
    #[prost(string, repeated, tag = "1")]
    partition_key_table: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    explicit_hash_key_table: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    records: Vec<UserRecord>,
}

#[derive(Clone, PartialEq, Message)]
struct UserRecord {
    #[prost(uint64, required, tag = "1")]
    partition_key_index: u64,
    #[prost(uint64, optional, tag = "2")]
    explicit_hash_key_index: Option<u64>,
    #[prost(bytes = "bytes", required, tag = "3")]
    data: Bytes,
    #[prost(message, repeated, tag = "4")]
    tags: Vec<Tag>,
}

#[derive(Clone, PartialEq, Message)]
struct Tag {
    #[prost(string, required, tag = "1")]
    key: String,
    #[prost(string, optional, tag = "2")]
    value: Option<String>,
}

/// Whether `data` has the shape of an aggregated record: the magic bytes, then at least a
/// digest. Says nothing of the digest's validity.
pub fn looks_aggregated(data: &[u8]) -> bool {
    data.len() >= MAGIC.len() + DIGEST_LEN && data.starts_with(&MAGIC)
}

/// The user records of `record`, in their order, each with the record's shard, sequence number
/// and arrival time, its own partition key and data, and its index as
/// [`sub_sequence_number`](Record::sub_sequence_number).
///
/// A record that is not aggregated comes back alone and unchanged. So does one that starts
/// with the magic bytes but whose digest does not match, whose message does not decode, that
/// names a partition key missing from its table, or that holds no user record: its bytes
/// reach the consumer, which can set them aside, rather than being dropped.
pub fn deaggregate(record: Record) -> Vec<Record> {
    match decode(&record.data) {
        Some(message) => message
            .records
            .into_iter()
            .enumerate()
            .map(|(index, user)| Record {
                shard_id: record.shard_id.clone(),
                sequence_number: record.sequence_number.clone(),
                sub_sequence_number: Some(index as u64),
                partition_key: message.partition_key_table[user.partition_key_index as usize]
                    .clone(),
                data: user.data,
                approximate_arrival: record.approximate_arrival,
            })
            .collect(),
        None => vec![record],
    }
}

/// The message inside `data` if `data` is a sound aggregated record with at least one user
/// record whose keys all resolve.
fn decode(data: &Bytes) -> Option<AggregatedRecord> {
    if !looks_aggregated(data) {
        return None;
    }
    let body = data.slice(MAGIC.len()..data.len() - DIGEST_LEN);
    let digest = &data[data.len() - DIGEST_LEN..];
    if Md5::digest(&body).as_slice() != digest {
        return None;
    }
    let message = AggregatedRecord::decode(body).ok()?;
    let keys = message.partition_key_table.len() as u64;
    let sound =
        !message.records.is_empty() && message.records.iter().all(|r| r.partition_key_index < keys);
    sound.then_some(message)
}

/// One aggregated record ready to put: the partition key to put it under (its first user
/// record's, as the KPL does) and the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    /// The partition key of the first user record inside.
    pub partition_key: String,
    /// Magic bytes, message and digest.
    pub data: Bytes,
    /// How many user records it holds.
    pub user_records: usize,
}

/// A user record that cannot fit in an aggregate of the configured size even alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("a user record of {bytes} bytes (partition key included) does not fit in an aggregate of at most {limit} bytes")]
pub struct TooLarge {
    /// The user record's size in the aggregate, with its partition key.
    pub bytes: usize,
    /// The aggregate size limit.
    pub limit: usize,
}

impl TooLarge {
    /// Always false: the record will never fit (see [`Classify`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// The record is too large in itself: [`ErrorKind::Permanent`].
impl Classify for TooLarge {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Permanent
    }
}

/// Packs user records, in the order given, into aggregates of at most a given size.
///
/// ```
/// use kinesis_source::kpl::{deaggregate, Aggregator};
/// use kinesis_source::{Record, SequenceNumber};
///
/// let mut aggregator = Aggregator::new();
/// for (key, data) in [("p1", "p1,p2,2019-01-01"), ("p2", "p2,p3,2019-01-02")] {
///     assert!(aggregator.push(key, data.as_bytes()).unwrap().is_none(), "fits");
/// }
/// let aggregate = aggregator.finish().expect("two user records");
/// let read = Record::new("shardId-000000000000", SequenceNumber::new("42"), aggregate.partition_key, aggregate.data);
/// let users = deaggregate(read);
/// assert_eq!(users.len(), 2);
/// assert_eq!((users[1].partition_key.as_str(), users[1].sub_sequence_number), ("p2", Some(1)));
/// ```
#[derive(Debug)]
pub struct Aggregator {
    limit: usize,
    message: AggregatedRecord,
    key_index: HashMap<String, u64>,
    /// Bytes of the payload so far: magic, message, digest, and the outer partition key.
    size: usize,
}

impl Default for Aggregator {
    fn default() -> Self {
        Self::new()
    }
}

impl Aggregator {
    /// Aggregates of at most 1 MiB, the Kinesis record limit (partition key included).
    pub fn new() -> Self {
        Self::with_limit(MAX_RECORD_BYTES)
    }

    /// Aggregates of at most `limit` bytes (capped at 1 MiB), partition key included.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            limit: limit.min(MAX_RECORD_BYTES),
            message: AggregatedRecord::default(),
            key_index: HashMap::new(),
            size: 0,
        }
    }

    /// User records in the aggregate being built.
    pub fn len(&self) -> usize {
        self.message.records.len()
    }

    /// Whether no user record is waiting.
    pub fn is_empty(&self) -> bool {
        self.message.records.is_empty()
    }

    /// Adds one user record. When it does not fit beside the ones waiting, those are returned
    /// as a finished aggregate first and the record starts the next one.
    pub fn push(
        &mut self,
        partition_key: &str,
        data: &[u8],
    ) -> Result<Option<Aggregate>, TooLarge> {
        // The aggregate this record would start: magic, digest, the outer partition key (the
        // first user record's) and the message holding only this record.
        let alone = MAGIC.len()
            + DIGEST_LEN
            + partition_key.len()
            + Self::growth(partition_key, data, true);
        if alone > self.limit {
            return Err(TooLarge {
                bytes: alone,
                limit: self.limit,
            });
        }
        let grows = Self::growth(
            partition_key,
            data,
            !self.key_index.contains_key(partition_key),
        );
        let finished = if !self.is_empty() && self.size + grows > self.limit {
            self.finish()
        } else {
            None
        };
        if self.is_empty() {
            self.size = alone;
        } else {
            self.size += grows;
        }
        let next = self.key_index.len() as u64;
        let index = *self
            .key_index
            .entry(partition_key.to_owned())
            .or_insert_with(|| {
                self.message
                    .partition_key_table
                    .push(partition_key.to_owned());
                next
            });
        self.message.records.push(UserRecord {
            partition_key_index: index,
            explicit_hash_key_index: None,
            data: Bytes::copy_from_slice(data),
            tags: Vec::new(),
        });
        Ok(finished)
    }

    /// The aggregate of the user records waiting, if any, leaving the aggregator empty.
    pub fn finish(&mut self) -> Option<Aggregate> {
        if self.is_empty() {
            return None;
        }
        let message = std::mem::take(&mut self.message);
        self.key_index.clear();
        self.size = 0;
        let body = message.encode_to_vec();
        let mut data = Vec::with_capacity(MAGIC.len() + body.len() + DIGEST_LEN);
        data.extend_from_slice(&MAGIC);
        data.extend_from_slice(&body);
        data.extend_from_slice(&Md5::digest(&body));
        Some(Aggregate {
            partition_key: message.partition_key_table[0].clone(),
            data: Bytes::from(data),
            user_records: message.records.len(),
        })
    }

    /// Bytes one more user record adds to the message: its entry in the record list, and its
    /// key's entry in the key table when the key is new.
    fn growth(partition_key: &str, data: &[u8], new_key: bool) -> usize {
        let user = UserRecord {
            partition_key_index: u64::MAX, // the widest index: an upper bound
            explicit_hash_key_index: None,
            data: Bytes::new(),
            tags: Vec::new(),
        };
        // Field 3 of the user record (data) and field 3 of the aggregate (the record), each a
        // tag byte, a length and the bytes.
        let user_len =
            user.encoded_len() + 1 + prost::length_delimiter_len(data.len()) + data.len();
        let record = 1 + prost::length_delimiter_len(user_len) + user_len;
        let key = if new_key {
            1 + prost::length_delimiter_len(partition_key.len()) + partition_key.len()
        } else {
            0
        };
        record + key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SequenceNumber;
    use proptest::prelude::*;

    fn read(aggregate: &Aggregate) -> Record {
        Record::new(
            "shardId-000000000001",
            SequenceNumber::new("4960"),
            aggregate.partition_key.clone(),
            aggregate.data.clone(),
        )
    }

    #[test]
    fn a_plain_record_comes_back_unchanged() {
        let r = Record::new(
            "s",
            SequenceNumber::new("1"),
            "k",
            Bytes::from_static(b"p1,p2,d"),
        );
        assert_eq!(deaggregate(r.clone()), vec![r]);
    }

    #[test]
    fn a_damaged_aggregate_comes_back_unchanged() {
        let mut a = Aggregator::new();
        a.push("k1", b"one").unwrap();
        a.push("k2", b"two").unwrap();
        let good = a.finish().unwrap();
        assert_eq!(deaggregate(read(&good)).len(), 2);

        // A flipped bit in the message: the digest no longer matches.
        let mut bytes = good.data.to_vec();
        bytes[6] ^= 1;
        let damaged = Record::new("s", SequenceNumber::new("1"), "k1", Bytes::from(bytes));
        assert_eq!(deaggregate(damaged.clone()), vec![damaged]);

        // Cut short: too small to hold a digest after the magic bytes.
        let stub = Record::new("s", SequenceNumber::new("1"), "k1", good.data.slice(..10));
        assert_eq!(deaggregate(stub.clone()), vec![stub]);

        // A sound digest over a message naming a key its table lacks.
        let message = AggregatedRecord {
            partition_key_table: vec!["k".into()],
            explicit_hash_key_table: vec![],
            records: vec![UserRecord {
                partition_key_index: 3,
                explicit_hash_key_index: None,
                data: Bytes::from_static(b"x"),
                tags: vec![],
            }],
        };
        let body = message.encode_to_vec();
        let data = [&MAGIC[..], &body, &Md5::digest(&body)].concat();
        let bad_index = Record::new("s", SequenceNumber::new("1"), "k", Bytes::from(data));
        assert_eq!(deaggregate(bad_index.clone()), vec![bad_index]);
    }

    #[test]
    fn a_record_too_large_to_aggregate_is_refused_and_the_others_go_on() {
        let mut a = Aggregator::with_limit(100);
        a.push("k", b"small").unwrap();
        let err = a.push("k", &[0u8; 200]).unwrap_err();
        assert_eq!(err.limit, 100);
        assert!(!err.is_retriable());
        assert_eq!(a.len(), 1);
        assert_eq!(a.finish().unwrap().user_records, 1);
        assert!(a.finish().is_none());
    }

    proptest! {
        /// Whatever the user records and the size limit, the aggregates respect the limit,
        /// and de-aggregating them gives back every user record, in order, with its key.
        #[test]
        fn user_records_round_trip_within_the_limit(
            records in prop::collection::vec(
                ("[a-z0-9]{1,12}", prop::collection::vec(any::<u8>(), 0..300)),
                1..60,
            ),
            limit in 400usize..4000,
        ) {
            let mut a = Aggregator::with_limit(limit);
            let mut aggregates = Vec::new();
            for (key, data) in &records {
                if let Some(done) = a.push(key, data).unwrap() {
                    aggregates.push(done);
                }
            }
            aggregates.extend(a.finish());
            let mut back = Vec::new();
            for (n, aggregate) in aggregates.iter().enumerate() {
                prop_assert!(aggregate.data.len() + aggregate.partition_key.len() <= limit);
                let users = deaggregate(read(aggregate));
                prop_assert_eq!(users.len(), aggregate.user_records);
                for (i, u) in users.iter().enumerate() {
                    prop_assert_eq!(u.sub_sequence_number, Some(i as u64), "aggregate {}", n);
                    back.push((u.partition_key.clone(), u.data.to_vec()));
                }
            }
            prop_assert_eq!(back, records);
        }
    }
}
