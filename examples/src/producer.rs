//! The Kinesis producer seen as a `workload_gen::RecordSink`.

use async_trait::async_trait;
use kinesis_source::{KinesisProducer, ProducerRecord};
use workload_gen::{OutgoingRecord, PutOutcome, RecordSink, RecordSinkError};

/// Lets the workload driver put records through a [`KinesisProducer`] (the crates stay
/// independent; this adapter is where they meet).
#[derive(Debug, Clone)]
pub struct KinesisRecordSink {
    producer: KinesisProducer,
}

impl KinesisRecordSink {
    /// Wraps a producer.
    pub fn new(producer: KinesisProducer) -> Self {
        Self { producer }
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
        Ok(self
            .producer
            .put(records)
            .await
            .into_iter()
            .map(|r| match r {
                Ok(receipt) => PutOutcome::Accepted {
                    shard_id: receipt.shard_id,
                    sequence_number: receipt.sequence_number.to_string(),
                },
                Err(failure) => PutOutcome::Failed {
                    retriable: failure.is_retriable(),
                    reason: failure.to_string(),
                },
            })
            .collect())
    }
}
