//! The Kinesis producer seen as a `workload_gen::RecordSink`.

use async_trait::async_trait;
use kinesis_source::producer::{KinesisProducer, ProducerRecord};
use kinesis_source::Record;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use workload_gen::{OutgoingRecord, PutOutcome, RecordSink, RecordSinkError};

/// When each record was put, by shard and sequence number, from the producer's side: the
/// moment its `PutRecords` call was sent (so a latency measured from it includes the call).
///
/// The put-to-graph latency starts here in the main job because the embedded emulator stamps
/// `ApproximateArrivalTimestamp` in whole seconds, which would add up to a second to every
/// figure; the Kinesis service stamps milliseconds. An entry is removed when it is taken: the
/// pipeline asks once for every record it acknowledges, written or dead-lettered.
#[derive(Clone, Default)]
pub struct PutTimes(Arc<Mutex<HashMap<(String, String), SystemTime>>>);

impl std::fmt::Debug for PutTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutTimes")
            .field("waiting", &self.lock().len())
            .finish()
    }
}

impl PutTimes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), SystemTime>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that the record at `sequence_number` of `shard` was put at `at`.
    pub fn insert(&self, shard: &str, sequence_number: &str, at: SystemTime) {
        self.lock()
            .insert((shard.to_owned(), sequence_number.to_owned()), at);
    }

    /// When `record` was put, if this producer put it; forgets it.
    pub fn take(&self, record: &Record) -> Option<SystemTime> {
        self.lock().remove(&(
            record.shard_id.clone(),
            record.sequence_number.as_str().to_owned(),
        ))
    }
}

/// Lets the workload driver put records through a [`KinesisProducer`] (the crates stay
/// independent; this adapter is where they meet).
#[derive(Debug, Clone)]
pub struct KinesisRecordSink {
    producer: KinesisProducer,
    put_times: Option<PutTimes>,
}

impl KinesisRecordSink {
    /// Wraps a producer.
    pub fn new(producer: KinesisProducer) -> Self {
        Self {
            producer,
            put_times: None,
        }
    }

    /// Also notes in `put_times` when each accepted record was put.
    pub fn with_put_times(mut self, put_times: PutTimes) -> Self {
        self.put_times = Some(put_times);
        self
    }
}

#[async_trait]
impl RecordSink for KinesisRecordSink {
    async fn put_batch(
        &self,
        records: Vec<OutgoingRecord>,
    ) -> Result<Vec<PutOutcome>, RecordSinkError> {
        let records = records
            .into_iter()
            .map(|r| ProducerRecord::new(r.partition_key, r.data))
            .collect();
        let sent = SystemTime::now();
        Ok(self
            .producer
            .put(records)
            .await
            .into_iter()
            .map(|r| match r {
                Ok(receipt) => {
                    if let Some(times) = &self.put_times {
                        times.insert(&receipt.shard_id, receipt.sequence_number.as_str(), sent);
                    }
                    PutOutcome::Accepted {
                        shard_id: receipt.shard_id,
                        sequence_number: receipt.sequence_number.to_string(),
                    }
                }
                Err(failure) => PutOutcome::Failed {
                    retriable: failure.is_retriable(),
                    reason: failure.to_string(),
                },
            })
            .collect())
    }
}
