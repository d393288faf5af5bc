//! The loop that reads the daemon's messages, calls the processor and answers.

use crate::channel::Channel;
use crate::error::{ChannelError, DriverError};
use crate::message::{Incoming, Outgoing};
use crate::processor::{Checkpointer, InitializeInput, ProcessRecordsInput, ShardRecordProcessor};
use tokio::io::{AsyncBufRead, AsyncWrite, BufReader};

/// How a lease ended for this process, as far as the daemon said before closing the pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ending {
    /// The shard was read to its end.
    ShardEnded,
    /// Another worker took the lease.
    LeaseLost,
    /// The worker shut down or handed the lease over.
    ShutdownRequested,
    /// The daemon closed the pipe without saying why (it stopped, or was killed).
    Closed,
}

/// What [`run`] saw, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// The shard, once initialized.
    pub shard_id: Option<String>,
    /// `processRecords` messages handled.
    pub batches: u64,
    /// Records in them.
    pub records: u64,
    /// How the lease ended.
    pub ending: Ending,
}

/// Runs `processor` on the daemon's protocol over this process's standard input and output,
/// until the daemon closes the pipe. Log to standard error: standard output belongs to the
/// protocol (the daemon skips lines it cannot read, but they cost it a warning each).
pub async fn run_stdio<P: ShardRecordProcessor>(processor: &mut P) -> Result<Summary, DriverError> {
    run(
        processor,
        BufReader::new(tokio::io::stdin()),
        tokio::io::stdout(),
    )
    .await
}

/// Runs `processor` on the daemon's protocol over `input` and `output` until `input` ends.
///
/// Each message is answered with a status once the processor's method returned; checkpoint
/// requests made by the processor meanwhile go out and their answers come back through the
/// [`Checkpointer`]. An error from the processor stops the loop without an answer (see
/// [`ShardRecordProcessor`]).
pub async fn run<P, R, W>(processor: &mut P, input: R, output: W) -> Result<Summary, DriverError>
where
    P: ShardRecordProcessor,
    R: AsyncBufRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut channel = Channel::new(Box::new(input), Box::new(output));
    let mut summary = Summary {
        shard_id: None,
        batches: 0,
        records: 0,
        ending: Ending::Closed,
    };
    while let Some(message) = channel.receive().await? {
        let action = message.action();
        handle(processor, &mut channel, message, &mut summary)
            .await
            .map_err(|e| match e {
                Handled::Processor(source) => DriverError::Processor { action, source },
                Handled::Channel(e) => DriverError::Channel(e),
            })?;
        channel
            .send(&Outgoing::Status {
                response_for: action.to_owned(),
            })
            .await?;
    }
    Ok(summary)
}

/// Why a message was not handled.
enum Handled {
    /// The processor's error.
    Processor(Box<dyn std::error::Error + Send + Sync>),
    /// A message out of place.
    Channel(ChannelError),
}

/// Calls the processor's method for one lifecycle message, noting in `summary` what it says.
async fn handle<P: ShardRecordProcessor>(
    processor: &mut P,
    channel: &mut Channel,
    message: Incoming,
    summary: &mut Summary,
) -> Result<(), Handled> {
    let failed = |e: P::Error| Handled::Processor(Box::new(e));
    match message {
        Incoming::Initialize {
            shard_id,
            sequence_number,
            sub_sequence_number,
        } => {
            summary.shard_id = Some(shard_id.clone());
            processor
                .initialize(InitializeInput {
                    shard_id,
                    sequence_number,
                    sub_sequence_number,
                })
                .await
                .map_err(failed)
        }
        Incoming::ProcessRecords {
            records,
            millis_behind_latest,
        } => {
            summary.batches += 1;
            summary.records += records.len() as u64;
            let input = ProcessRecordsInput {
                records,
                millis_behind_latest,
            };
            let mut checkpointer = Checkpointer::new(channel);
            processor
                .process_records(input, &mut checkpointer)
                .await
                .map_err(failed)
        }
        Incoming::LeaseLost => {
            summary.ending = Ending::LeaseLost;
            processor.lease_lost().await.map_err(failed)
        }
        Incoming::ShardEnded => {
            summary.ending = Ending::ShardEnded;
            let mut checkpointer = Checkpointer::new(channel);
            processor
                .shard_ended(&mut checkpointer)
                .await
                .map_err(failed)?;
            if checkpointer.stored() == 0 {
                tracing::warn!(
                    shard = summary.shard_id.as_deref().unwrap_or("?"),
                    "the shard ended and its end was not checkpointed: its children wait until it is"
                );
            }
            Ok(())
        }
        Incoming::ShutdownRequested => {
            summary.ending = Ending::ShutdownRequested;
            let mut checkpointer = Checkpointer::new(channel);
            processor
                .shutdown_requested(&mut checkpointer)
                .await
                .map_err(failed)
        }
        // The older protocol's single end message: TERMINATE at a shard's end, ZOMBIE when the
        // lease was lost.
        Incoming::Shutdown { reason } => {
            if matches!(reason.as_deref(), Some("TERMINATE") | Some("SHARD_END")) {
                summary.ending = Ending::ShardEnded;
                let mut checkpointer = Checkpointer::new(channel);
                processor
                    .shard_ended(&mut checkpointer)
                    .await
                    .map_err(failed)
            } else {
                summary.ending = Ending::LeaseLost;
                processor.lease_lost().await.map_err(failed)
            }
        }
        Incoming::Checkpoint { .. } => Err(Handled::Channel(ChannelError::Unexpected {
            expected: "a lifecycle message",
            got: "checkpoint",
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CheckpointError;
    use crate::message::KclRecord;
    use async_trait::async_trait;
    use stream2neptune_common::{Classify, ErrorKind};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, DuplexStream};

    /// What the test processor saw and did.
    #[derive(Default)]
    struct Recorder {
        events: Vec<String>,
        /// Checkpoint after every batch at its last record.
        checkpoint_each_batch: bool,
        /// Fail on this action.
        fail_on: Option<&'static str>,
        lease_lost_seen_by_checkpoint: bool,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("processor failed on purpose")]
    struct Boom;

    #[async_trait]
    impl ShardRecordProcessor for Recorder {
        type Error = Boom;
        async fn initialize(&mut self, input: InitializeInput) -> Result<(), Boom> {
            if self.fail_on == Some("initialize") {
                return Err(Boom);
            }
            self.events.push(format!(
                "init {} at {}",
                input.shard_id,
                input.sequence_number.unwrap_or_default()
            ));
            Ok(())
        }
        async fn process_records(
            &mut self,
            input: ProcessRecordsInput,
            checkpointer: &mut Checkpointer<'_>,
        ) -> Result<(), Boom> {
            if self.fail_on == Some("processRecords") {
                return Err(Boom);
            }
            self.events.push(format!("records {}", input.records.len()));
            if self.checkpoint_each_batch {
                let last = input.records.last().expect("a record");
                match checkpointer
                    .checkpoint(&last.sequence_number, last.sub_sequence_number)
                    .await
                {
                    Ok(()) => self
                        .events
                        .push(format!("checkpointed {}", last.sequence_number)),
                    Err(e) if e.is_lease_lost() => {
                        self.lease_lost_seen_by_checkpoint = true;
                        self.events.push("lease lost on checkpoint".into());
                    }
                    Err(e) => self.events.push(format!("checkpoint failed: {e}")),
                }
            }
            Ok(())
        }
        async fn lease_lost(&mut self) -> Result<(), Boom> {
            self.events.push("lease lost".into());
            Ok(())
        }
        async fn shard_ended(&mut self, checkpointer: &mut Checkpointer<'_>) -> Result<(), Boom> {
            checkpointer.checkpoint_end().await.expect("end checkpoint");
            self.events.push("shard ended, end checkpointed".into());
            Ok(())
        }
        async fn shutdown_requested(
            &mut self,
            _checkpointer: &mut Checkpointer<'_>,
        ) -> Result<(), Boom> {
            self.events.push("shutdown requested".into());
            Ok(())
        }
    }

    /// The daemon's side of the pipe.
    struct FakeDaemon {
        to_child: DuplexStream,
        from_child: tokio::io::Lines<BufReader<DuplexStream>>,
    }

    impl FakeDaemon {
        async fn send(&mut self, line: &str) {
            self.to_child.write_all(line.as_bytes()).await.unwrap();
            self.to_child.write_all(b"\n").await.unwrap();
        }
        async fn next(&mut self) -> serde_json::Value {
            let line = self.from_child.next_line().await.unwrap().expect("a line");
            serde_json::from_str(&line).unwrap()
        }
        async fn expect_status(&mut self, action: &str) {
            assert_eq!(
                self.next().await,
                serde_json::json!({"action": "status", "responseFor": action})
            );
        }
    }

    /// The processor as it ended, and what the loop returned.
    type Finished = tokio::task::JoinHandle<(Recorder, Result<Summary, DriverError>)>;

    fn start(mut processor: Recorder) -> (FakeDaemon, Finished) {
        let (daemon_in, child_out) = tokio::io::duplex(1 << 16);
        let (child_in, daemon_out) = tokio::io::duplex(1 << 16);
        let handle = tokio::spawn(async move {
            let result = run(&mut processor, BufReader::new(child_in), child_out).await;
            (processor, result)
        });
        (
            FakeDaemon {
                to_child: daemon_out,
                from_child: BufReader::new(daemon_in).lines(),
            },
            handle,
        )
    }

    fn records(seqs: &[&str]) -> String {
        let records: Vec<KclRecord> = seqs
            .iter()
            .map(|s| KclRecord {
                data: format!("a,b,{s}").into_bytes(),
                partition_key: "a".into(),
                sequence_number: (*s).into(),
                sub_sequence_number: Some(0),
                approximate_arrival_timestamp: Some(1),
            })
            .collect();
        serde_json::json!({"action": "processRecords", "records": records, "millisBehindLatest": 0})
            .to_string()
    }

    #[tokio::test]
    async fn a_lease_from_initialize_to_shard_end_with_checkpoints() {
        let (mut daemon, handle) = start(Recorder {
            checkpoint_each_batch: true,
            ..Recorder::default()
        });
        daemon
            .send(r#"{"action":"initialize","shardId":"shard-1","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}"#)
            .await;
        daemon.expect_status("initialize").await;
        daemon.send(&records(&["10", "11", "12"])).await;
        // The processor asks for a checkpoint at its last record before it answers.
        assert_eq!(
            daemon.next().await,
            serde_json::json!({"action": "checkpoint", "sequenceNumber": "12", "subSequenceNumber": 0})
        );
        daemon
            .send(r#"{"action":"checkpoint","sequenceNumber":"12","subSequenceNumber":0,"error":null}"#)
            .await;
        daemon.expect_status("processRecords").await;
        daemon.send(r#"{"action":"shardEnded"}"#).await;
        assert_eq!(
            daemon.next().await,
            serde_json::json!({"action": "checkpoint"})
        );
        daemon
            .send(r#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null,"error":null}"#)
            .await;
        daemon.expect_status("shardEnded").await;
        drop(daemon);
        let (processor, result) = handle.await.unwrap();
        let summary = result.unwrap();
        assert_eq!(summary.ending, Ending::ShardEnded);
        assert_eq!(summary.shard_id.as_deref(), Some("shard-1"));
        assert_eq!((summary.batches, summary.records), (1, 3));
        assert_eq!(
            processor.events,
            [
                "init shard-1 at TRIM_HORIZON",
                "records 3",
                "checkpointed 12",
                "shard ended, end checkpointed"
            ]
        );
    }

    #[tokio::test]
    async fn a_checkpoint_refused_because_the_lease_is_gone_is_reported_as_lease_lost() {
        let (mut daemon, handle) = start(Recorder {
            checkpoint_each_batch: true,
            ..Recorder::default()
        });
        daemon
            .send(r#"{"action":"initialize","shardId":"s"}"#)
            .await;
        daemon.expect_status("initialize").await;
        daemon.send(&records(&["5"])).await;
        let _request = daemon.next().await;
        daemon
            .send(r#"{"action":"checkpoint","sequenceNumber":"5","error":"ShutdownException"}"#)
            .await;
        daemon.expect_status("processRecords").await;
        daemon.send(r#"{"action":"leaseLost"}"#).await;
        daemon.expect_status("leaseLost").await;
        drop(daemon);
        let (processor, result) = handle.await.unwrap();
        assert_eq!(result.unwrap().ending, Ending::LeaseLost);
        assert!(processor.lease_lost_seen_by_checkpoint);
        assert_eq!(
            processor.events,
            [
                "init s at ",
                "records 1",
                "lease lost on checkpoint",
                "lease lost"
            ]
        );
    }

    #[tokio::test]
    async fn shutdown_requested_is_answered_and_the_older_shutdown_message_maps_to_its_reason() {
        let (mut daemon, handle) = start(Recorder::default());
        daemon
            .send(r#"{"action":"initialize","shardId":"s"}"#)
            .await;
        daemon.expect_status("initialize").await;
        daemon.send(r#"{"action":"shutdownRequested"}"#).await;
        daemon.expect_status("shutdownRequested").await;
        daemon
            .send(r#"{"action":"shutdown","reason":"ZOMBIE"}"#)
            .await;
        daemon.expect_status("shutdown").await;
        drop(daemon);
        let (processor, result) = handle.await.unwrap();
        assert_eq!(result.unwrap().ending, Ending::LeaseLost);
        assert_eq!(
            processor.events,
            ["init s at ", "shutdown requested", "lease lost"]
        );
    }

    #[tokio::test]
    async fn a_processor_error_ends_the_loop_without_an_answer() {
        let (mut daemon, handle) = start(Recorder {
            fail_on: Some("processRecords"),
            ..Recorder::default()
        });
        daemon
            .send(r#"{"action":"initialize","shardId":"s"}"#)
            .await;
        daemon.expect_status("initialize").await;
        daemon.send(&records(&["1"])).await;
        let (_, result) = handle.await.unwrap();
        let err = result.unwrap_err();
        assert!(matches!(
            err,
            DriverError::Processor {
                action: "processRecords",
                ..
            }
        ));
        assert!(!err.is_retriable());
        assert_eq!(err.kind(), stream2neptune_common::ErrorKind::Permanent);
        assert!(
            std::error::Error::source(&err).is_some(),
            "the processor's error is kept"
        );
        // No status went out.
        assert!(daemon.from_child.next_line().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_line_that_is_not_a_message_is_an_error_naming_it() {
        let (mut daemon, handle) = start(Recorder::default());
        daemon.send("").await;
        daemon.send("{not json").await;
        let (_, result) = handle.await.unwrap();
        let err = result.unwrap_err().to_string();
        assert!(err.contains("{not json"), "{err}");
    }

    #[tokio::test]
    async fn the_daemon_closing_the_pipe_mid_checkpoint_is_reported() {
        let (mut daemon, handle) = start(Recorder {
            checkpoint_each_batch: true,
            ..Recorder::default()
        });
        daemon
            .send(r#"{"action":"initialize","shardId":"s"}"#)
            .await;
        daemon.expect_status("initialize").await;
        daemon.send(&records(&["1"])).await;
        let _request = daemon.next().await;
        drop(daemon);
        let (processor, result) = handle.await.unwrap();
        assert_eq!(
            processor.events.last().map(String::as_str),
            Some("checkpoint failed: the daemon closed the pipe while an answer was due")
        );
        // The status cannot be written either: the loop ends with the pipe's error.
        assert!(matches!(
            result,
            Err(DriverError::Channel(ChannelError::Io(_)))
        ));
    }

    #[test]
    fn checkpoint_errors_say_what_they_mean() {
        let refused = |exception: &str| CheckpointError::Refused {
            exception: exception.into(),
            sequence_number: Some("1".into()),
            sub_sequence_number: None,
        };
        assert!(refused("ShutdownException").is_lease_lost());
        assert_eq!(refused("IllegalArgumentException").kind(), ErrorKind::Usage);
        assert!(!refused("ShutdownException").is_retriable());
        assert!(refused("ThrottlingException").is_retriable());
        assert!(refused("KinesisClientLibDependencyException").is_retriable());
        assert!(!refused("InvalidStateException").is_retriable());
        assert!(!refused("IllegalArgumentException").is_lease_lost());
        assert!(refused("InvalidStateException")
            .to_string()
            .contains("InvalidStateException"));
    }
}
