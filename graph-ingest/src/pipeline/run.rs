//! Running a pipeline over a source: one worker per shard, each in shard order (in lanes by
//! partition key with a parallelization factor above 1), checkpoints on a tick, and a drain on
//! the way out.

use super::{Pipeline, PipelineError};
use kinesis_source::{Acker, Record, RecordBatch, RecordSource};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

#[cfg(doc)]
use crate::{config::PipelineConfig, control::Control};

/// The shard workers of a run, and how one reports a failure no waiting mends.
struct Workers {
    queues: HashMap<String, mpsc::UnboundedSender<RecordBatch>>,
    tasks: JoinSet<()>,
    failed_tx: mpsc::Sender<PipelineError>,
    failed: mpsc::Receiver<PipelineError>,
}

impl Workers {
    fn new() -> Self {
        let (failed_tx, failed) = mpsc::channel(1);
        Self {
            queues: HashMap::new(),
            tasks: JoinSet::new(),
            failed_tx,
            failed,
        }
    }

    /// Hands `batch` to its shard's worker, starting one for a shard seen first. Queues per
    /// shard do not block: a held shard never stops the others, and the source bounds what a
    /// shard has delivered and not acknowledged.
    fn dispatch(&mut self, pipeline: &Pipeline, batch: RecordBatch) {
        let tx = self
            .queues
            .entry(batch.shard_id.clone())
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                let me = pipeline.clone();
                let failed = self.failed_tx.clone();
                self.tasks.spawn(async move {
                    if let Err(e) = me.shard_worker(rx).await {
                        let _ = failed.send(e).await;
                    }
                });
                tx
            });
        // A worker stops receiving only after a failure, which the run reports.
        let _ = tx.send(batch);
    }

    /// No more batches: waits up to `timeout` for the workers to finish what they hold (a stop
    /// also ends holds), then aborts the rest, which are read again on the next start. The
    /// first failure a worker reported, if any.
    async fn drain(mut self, timeout: Duration) -> Option<PipelineError> {
        drop(self.queues);
        let tasks = &mut self.tasks;
        let drained = tokio::time::timeout(timeout, async {
            while let Some(done) = tasks.join_next().await {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a shard worker panicked");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                ?timeout,
                "batches in flight did not finish within the drain timeout; they are read again on the next start"
            );
            self.tasks.abort_all();
        }
        self.failed.try_recv().ok()
    }
}

impl Pipeline {
    /// Reads `source` until it ends, the pipeline is stopped (see [`Control`]), or a failure no
    /// waiting mends. Shards are processed concurrently, each in order; while paused nothing
    /// is read. On the way out, batches in flight are finished (bounded by
    /// [`drain_timeout`](PipelineConfig::drain_timeout)), the source is shut down (final
    /// checkpoints) and the metrics are flushed, whatever the outcome.
    pub async fn run<S: RecordSource + ?Sized>(&self, source: &mut S) -> Result<(), PipelineError> {
        let mut workers = Workers::new();
        let outcome = self.read(source, &mut workers).await;
        let failed = workers.drain(self.inner.config.drain_timeout).await;
        let shutdown = source.shutdown().await;
        if let Err(e) = self.inner.metrics.flush().await {
            tracing::warn!(error = %e, "metrics were not all published");
        }
        outcome?;
        if let Some(e) = failed {
            return Err(e);
        }
        shutdown?;
        Ok(())
    }

    /// The read loop of [`run`](Self::run): batches to their shard's worker, checkpoints on
    /// every tick, nothing read while paused; ends at a stop, the end of the source, or a
    /// failure no waiting mends (the source's or a worker's).
    async fn read<S: RecordSource + ?Sized>(
        &self,
        source: &mut S,
        workers: &mut Workers,
    ) -> Result<(), PipelineError> {
        let mut stop = self.inner.control.stop_receiver();
        let mut pause = self.inner.control.pause_receiver();
        let mut tick = tokio::time::interval(self.inner.config.checkpoint_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            if *pause.borrow() {
                tracing::info!("paused: nothing is read until the pause is released");
                tokio::select! {
                    _ = pause.changed() => {}
                    _ = stop.changed() => {}
                    Some(e) = workers.failed.recv() => return Err(e),
                    _ = tick.tick() => {
                        if let Err(e) = source.checkpoint().await {
                            tracing::warn!(error = %e, "checkpoint write failed; will try again");
                        }
                    }
                }
                continue;
            }
            tokio::select! {
                biased;
                _ = stop.changed() => {}
                _ = pause.changed() => {}
                Some(e) = workers.failed.recv() => return Err(e),
                _ = tick.tick() => {
                    if let Err(e) = source.checkpoint().await {
                        if !e.is_retriable() { return Err(e.into()); }
                        tracing::warn!(error = %e, "checkpoint write failed; will try again");
                    }
                }
                next = source.next_batch() => match next {
                    Ok(Some(batch)) => workers.dispatch(self, batch),
                    Ok(None) => return Ok(()),
                    Err(e) if e.is_retriable() => {
                        tracing::warn!(error = %e, "source error; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => return Err(e.into()),
                },
            }
        }
    }

    /// Processes one shard's batches in order, in lanes by partition key when the
    /// parallelization factor is above 1.
    async fn shard_worker(
        &self,
        mut rx: mpsc::UnboundedReceiver<RecordBatch>,
    ) -> Result<(), PipelineError> {
        let lanes = self.inner.config.parallelization_factor;
        if lanes > 1 {
            return self.lanes(rx, lanes).await;
        }
        while let Some(batch) = rx.recv().await {
            if self.inner.control.is_stopping() {
                break;
            }
            self.process_batch(&batch).await?;
        }
        Ok(())
    }

    /// Deals each batch's records to `lanes` lanes by partition key; each lane processes its
    /// parts in order.
    async fn lanes(
        &self,
        mut rx: mpsc::UnboundedReceiver<RecordBatch>,
        lanes: usize,
    ) -> Result<(), PipelineError> {
        let mut senders = Vec::with_capacity(lanes);
        let mut tasks = JoinSet::new();
        for lane in 0..lanes {
            // Two parts queued per lane: reading the next batch overlaps writing this one, and
            // a held lane holds back its shard's dispatch after that.
            let (tx, lane_rx) = mpsc::channel::<LanePart>(2);
            senders.push(tx);
            tasks.spawn(self.clone().lane(lane, lane_rx));
        }
        while let Some(batch) = rx.recv().await {
            if self.inner.control.is_stopping() {
                break;
            }
            let mut parts: Vec<Vec<Record>> = vec![Vec::new(); lanes];
            for record in batch.records {
                parts[lane_of(&record.partition_key, lanes)].push(record);
            }
            for (lane, records) in parts.into_iter().enumerate() {
                if records.is_empty() {
                    continue;
                }
                let part = LanePart {
                    shard: batch.shard_id.clone(),
                    records,
                    acker: batch.acker.clone(),
                    millis_behind_latest: batch.millis_behind_latest,
                };
                if senders[lane].send(part).await.is_err() {
                    // The lane ended with an error: it is reported below.
                    break;
                }
            }
        }
        drop(senders);
        let mut result = Ok(());
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Err(e)) if result.is_ok() => result = Err(e),
                Err(e) => tracing::error!(error = %e, "a lane worker panicked"),
                _ => {}
            }
        }
        result
    }

    /// One lane: its parts, in order, until the shard's worker stops sending or a stop.
    async fn lane(
        self,
        lane: usize,
        mut parts: mpsc::Receiver<LanePart>,
    ) -> Result<(), PipelineError> {
        while let Some(part) = parts.recv().await {
            if self.inner.control.is_stopping() {
                break;
            }
            let name = format!("{}/{lane}", part.shard);
            let records: Vec<&Record> = part.records.iter().collect();
            self.process(&name, &records, &part.acker, part.millis_behind_latest)
                .await?;
        }
        Ok(())
    }
}

/// The records of one batch that fall in one lane.
struct LanePart {
    shard: String,
    records: Vec<Record>,
    acker: Acker,
    millis_behind_latest: Option<u64>,
}

/// The lane of a partition key: the same key always goes to the same lane, so its records are
/// written in shard order.
fn lane_of(partition_key: &str, lanes: usize) -> usize {
    let mut h = DefaultHasher::new();
    partition_key.hash(&mut h);
    (h.finish() % lanes as u64) as usize
}
