//! Dead letters in a Kinesis stream.

use super::{DeadLetter, DeadLetterError, DeadLetterSink};
use async_trait::async_trait;
use kinesis_source::limits::MAX_RECORD_BYTES;
use kinesis_source::producer::{KinesisProducer, ProducerRecord};
use stream2neptune_common::{Classify, ErrorKind};

/// Dead letters put on a Kinesis stream, one JSON [`DeadLetter`] per record, keyed by the
/// original record's partition key (so the letters of one key stay in order).
///
/// This is an event source mapping's on-failure destination idea, with the record itself in
/// the message instead of only its position, so it can be replayed after the original
/// stream's retention has run out. A letter whose JSON would exceed a Kinesis record's
/// 1 MiB carries no bytes (`data_omitted`): its shard and sequence number say where the record
/// is. The producer resends only entries that failed, with jittered back-off; an entry still
/// failing is a retriable [`DeadLetterError`], so its record is held, not acknowledged.
#[derive(Debug)]
pub struct KinesisDeadLetters {
    producer: KinesisProducer,
}

impl KinesisDeadLetters {
    /// Dead letters through `producer` (which names the stream).
    pub fn new(producer: KinesisProducer) -> Self {
        Self { producer }
    }
}

/// The letter as a record's payload, its bytes left out if the whole would not fit.
fn payload(letter: &DeadLetter) -> Result<Vec<u8>, serde_json::Error> {
    let body = serde_json::to_vec(letter)?;
    if body.len() + letter.partition_key.len() <= MAX_RECORD_BYTES {
        return Ok(body);
    }
    serde_json::to_vec(&DeadLetter {
        data_base64: String::new(),
        data_omitted: true,
        ..letter.clone()
    })
}

#[async_trait]
impl DeadLetterSink for KinesisDeadLetters {
    async fn put(&self, letters: &[DeadLetter]) -> Result<(), DeadLetterError> {
        if letters.is_empty() {
            return Ok(());
        }
        let fail = |kind, source: Box<dyn std::error::Error + Send + Sync>| {
            DeadLetterError::new("the dead-letter stream", kind, source)
        };
        let mut records = Vec::with_capacity(letters.len());
        for l in letters {
            let body = payload(l).map_err(|e| fail(ErrorKind::Permanent, e.into()))?;
            // A partition key is 1 to 256 characters; a record read from a stream has one.
            let key = if l.partition_key.is_empty() {
                l.shard_id.clone()
            } else {
                l.partition_key.clone()
            };
            records.push(ProducerRecord::new(key, body));
        }
        for outcome in self.producer.put(records).await {
            if let Err(e) = outcome {
                return Err(fail(e.kind(), e.into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letter_too_large_for_a_record_keeps_its_position_but_not_its_bytes() {
        let small = DeadLetter::new("shard-0", "1", "k", "bad", b"1,2");
        assert_eq!(
            payload(&small).unwrap(),
            serde_json::to_vec(&small).unwrap()
        );
        let big = DeadLetter::new("shard-0", "2", "k", "bad", &vec![b'x'; 1_000_000]);
        let body = payload(&big).unwrap();
        assert!(body.len() < 2_000);
        let back: DeadLetter = serde_json::from_slice(&body).unwrap();
        assert!(back.data_omitted);
        assert_eq!(
            (back.shard_id.as_str(), back.sequence_number.as_str()),
            ("shard-0", "2")
        );
    }
}
