//! The driver: fixed rate, back-pressure, retries, failures reported, bad input counted.

use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stream2neptune_common::Backoff;
use workload_gen::driver::{run_driver, DriverConfig, DriverObserver, DriverProgress, NoProgress};
use workload_gen::generator::{EdgeGenerator, GeneratorConfig};
use workload_gen::reader::ReadError;
use workload_gen::{
    FollowsEdge, MemoryRecordSink, OutgoingRecord, PayloadFormat, PutOutcome, RecordSink,
    RecordSinkError,
};

/// An endless supply of edges.
fn endless() -> impl Iterator<Item = Result<FollowsEdge, ReadError>> {
    (0u64..).map(|i| {
        Ok(FollowsEdge::new(
            format!("p{}", i % 97),
            format!("p{i}"),
            "2019-01-01",
        ))
    })
}

fn edges(n: u64) -> impl Iterator<Item = Result<FollowsEdge, ReadError>> {
    endless().take(n as usize)
}

#[derive(Default)]
struct ProgressLog(Mutex<Vec<DriverProgress>>, Mutex<Vec<(String, String)>>);

impl DriverObserver for ProgressLog {
    fn on_progress(&self, p: &DriverProgress) {
        self.0.lock().unwrap().push(*p);
    }
    fn on_failed_record(&self, record: &OutgoingRecord, reason: &str) {
        self.1
            .lock()
            .unwrap()
            .push((record.partition_key.clone(), reason.to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_achieved_rate_matches_the_requested_rate_over_ten_seconds() {
    let sink = Arc::new(MemoryRecordSink::new());
    let config = DriverConfig::builder()
        .max_duration(Duration::from_secs(10))
        .build()
        .unwrap();
    let log = Arc::new(ProgressLog::default());
    let summary = run_driver(&config, sink.clone(), endless(), log.clone())
        .await
        .unwrap();
    let deviation = (summary.achieved_rate - config.target_rate()) / config.target_rate();
    println!(
        "requested {:.1} records/s, achieved {:.1} records/s over {:.3} s ({} records), deviation {:+.2} %",
        config.target_rate(),
        summary.achieved_rate,
        summary.dispatch_time.as_secs_f64(),
        summary.submitted,
        deviation * 100.0
    );
    // The goal is 2 %; asserted loosely because shared machines pause processes at times.
    assert!(deviation.abs() < 0.10, "deviation {deviation}");
    assert!(summary.dispatch_time >= Duration::from_secs(10));
    assert_eq!(summary.accepted, summary.submitted);
    assert_eq!(sink.records().len() as u64, summary.submitted);
    let progress = log.0.lock().unwrap();
    assert!(progress.len() >= 100, "progress at every period");
    let last = progress.last().unwrap();
    assert!((last.achieved_rate - 1_000.0).abs() < 100.0, "{last:?}");
}

/// Answers after `delay`, counting how many calls overlap.
struct SlowSink {
    delay: Duration,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    records: AtomicU64,
    calls: Mutex<Vec<usize>>,
}

impl SlowSink {
    fn new(delay: Duration) -> Self {
        Self {
            delay,
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            records: AtomicU64::new(0),
            calls: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl RecordSink for SlowSink {
    async fn put_batch(
        &self,
        records: Vec<OutgoingRecord>,
    ) -> Result<Vec<PutOutcome>, RecordSinkError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.calls.lock().unwrap().push(records.len());
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.records
            .fetch_add(records.len() as u64, Ordering::SeqCst);
        Ok(records
            .iter()
            .map(|_| PutOutcome::Accepted {
                shard_id: "s".into(),
                sequence_number: "1".into(),
            })
            .collect())
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_sink_within_capacity_does_not_make_the_schedule_drift() {
    // Each call takes 250 ms, longer than the 100 ms period: a fixed-delay loop would fall to
    // 400 records/s; with 4 calls in flight the fixed schedule keeps 1000/s exactly.
    let sink = Arc::new(SlowSink::new(Duration::from_millis(250)));
    let config = DriverConfig::builder().max_records(5_000).build().unwrap();
    let summary = run_driver(&config, sink.clone(), endless(), Arc::new(NoProgress))
        .await
        .unwrap();
    assert_eq!(summary.submitted, 5_000);
    assert_eq!(summary.dispatch_time, Duration::from_secs(5));
    assert_eq!(summary.achieved_rate, 1_000.0);
    assert_eq!(sink.records.load(Ordering::SeqCst), 5_000);
    assert!(sink.peak.load(Ordering::SeqCst) <= 4);
}

#[tokio::test(start_paused = true)]
async fn a_sink_slower_than_the_rate_gets_back_pressure_not_an_unbounded_queue() {
    // One call at a time, 1 s each: capacity 100 records/s against 1000 requested.
    let sink = Arc::new(SlowSink::new(Duration::from_secs(1)));
    let config = DriverConfig::builder()
        .max_in_flight(1)
        .max_records(1_000)
        .build()
        .unwrap();
    let summary = run_driver(&config, sink.clone(), endless(), Arc::new(NoProgress))
        .await
        .unwrap();
    assert_eq!(
        sink.peak.load(Ordering::SeqCst),
        1,
        "never more than one call"
    );
    assert_eq!(summary.accepted, 1_000);
    // Ten one-second calls, one at a time: the run takes the sink's pace, not the requested one.
    assert!(summary.total_time >= Duration::from_secs(10), "{summary:?}");
    assert!(
        summary.achieved_rate < 120.0,
        "the rate follows the sink: {}",
        summary.achieved_rate
    );
}

#[tokio::test(start_paused = true)]
async fn a_large_batch_is_split_into_calls_of_at_most_500_records() {
    let sink = Arc::new(SlowSink::new(Duration::from_millis(1)));
    let config = DriverConfig::builder()
        .batch_size(1_200)
        .max_records(1_200)
        .build()
        .unwrap();
    run_driver(&config, sink.clone(), endless(), Arc::new(NoProgress))
        .await
        .unwrap();
    assert_eq!(*sink.calls.lock().unwrap(), vec![500, 500, 200]);
}

/// Fails every record retriably on its first `flaky_attempts` attempts, and the records of
/// `poison` permanently.
struct FlakySink {
    flaky_attempts: u64,
    poison: String,
    attempts: Mutex<std::collections::HashMap<Vec<u8>, u64>>,
    accepted: MemoryRecordSink,
}

#[async_trait]
impl RecordSink for FlakySink {
    async fn put_batch(
        &self,
        records: Vec<OutgoingRecord>,
    ) -> Result<Vec<PutOutcome>, RecordSinkError> {
        let mut out = Vec::new();
        for r in records {
            let n = {
                let mut attempts = self.attempts.lock().unwrap();
                let n = attempts.entry(r.data.clone()).or_default();
                *n += 1;
                *n
            };
            if r.partition_key == self.poison {
                out.push(PutOutcome::Failed {
                    reason: "ValidationException".into(),
                    retriable: false,
                });
            } else if n <= self.flaky_attempts {
                out.push(PutOutcome::Failed {
                    reason: "ProvisionedThroughputExceededException".into(),
                    retriable: true,
                });
            } else {
                self.accepted.put_batch(vec![r]).await?;
                out.push(PutOutcome::Accepted {
                    shard_id: "s".into(),
                    sequence_number: "1".into(),
                });
            }
        }
        Ok(out)
    }
}

#[tokio::test(start_paused = true)]
async fn retriable_failures_are_retried_and_permanent_ones_are_reported() {
    let sink = Arc::new(FlakySink {
        flaky_attempts: 2,
        poison: "p5".into(),
        attempts: Default::default(),
        accepted: MemoryRecordSink::new(),
    });
    let log = Arc::new(ProgressLog::default());
    let config = DriverConfig::default();
    let summary = run_driver(&config, sink.clone(), edges(300), log.clone())
        .await
        .unwrap();
    println!("{summary}");
    // p5 is the follower of edges 5, 102, 199 and 296.
    assert_eq!(summary.submitted, 300);
    assert_eq!(summary.failed, 4);
    assert_eq!(summary.accepted, 296);
    assert_eq!(
        summary.retried,
        296 * 2,
        "two retries for each flaky record"
    );
    assert_eq!(summary.failure_reasons.get("ValidationException"), Some(&4));
    assert_eq!(sink.accepted.records().len(), 296);
    let failed = log.1.lock().unwrap();
    assert_eq!(failed.len(), 4);
    assert!(failed.iter().all(|(key, _)| key == "p5"));
}

#[tokio::test(start_paused = true)]
async fn records_that_keep_failing_are_given_up_after_the_retry_bound() {
    let sink = Arc::new(FlakySink {
        flaky_attempts: u64::MAX,
        poison: String::new(),
        attempts: Default::default(),
        accepted: MemoryRecordSink::new(),
    });
    let config = DriverConfig::builder()
        .retry(Backoff::new(Duration::from_millis(100), Duration::from_secs(5)).with_max_retries(3))
        .build()
        .unwrap();
    let summary = run_driver(&config, sink.clone(), edges(50), Arc::new(NoProgress))
        .await
        .unwrap();
    assert_eq!(
        (summary.accepted, summary.failed, summary.retried),
        (0, 50, 150)
    );
    let (reason, n) = summary.failure_reasons.iter().next().unwrap();
    assert_eq!(*n, 50);
    assert!(reason.starts_with("gave up after 3 retries"), "{reason}");
    let attempts = sink.attempts.lock().unwrap();
    assert!(attempts.values().all(|&n| n == 4), "1 attempt + 3 retries");
}

/// Refuses whole calls with a non-retriable error.
struct ClosedSink;

#[async_trait]
impl RecordSink for ClosedSink {
    async fn put_batch(&self, _: Vec<OutgoingRecord>) -> Result<Vec<PutOutcome>, RecordSinkError> {
        Err(RecordSinkError::unavailable("stream deleted", false))
    }
}

#[tokio::test(start_paused = true)]
async fn a_sink_that_refuses_every_call_fails_every_record_without_retrying() {
    let summary = run_driver(
        &DriverConfig::default(),
        Arc::new(ClosedSink),
        edges(250),
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    assert_eq!(
        (summary.failed, summary.retried, summary.put_calls),
        (250, 0, 3)
    );
    assert!(summary
        .failure_reasons
        .keys()
        .next()
        .unwrap()
        .contains("stream deleted"));
}

#[tokio::test(start_paused = true)]
async fn bad_input_lines_are_counted_and_listed_in_the_summary() {
    let input = vec![
        Ok(FollowsEdge::new("p1", "p2", "d")),
        Err(ReadError::BadLine {
            file: "f.csv".into(),
            line: 3,
            reason: "column 3 (from) is empty".into(),
        }),
        Ok(FollowsEdge::new("p3", "p4", "d")),
    ];
    let summary = run_driver(
        &DriverConfig::default(),
        Arc::new(MemoryRecordSink::new()),
        input,
        Arc::new(NoProgress),
    )
    .await
    .unwrap();
    assert_eq!((summary.accepted, summary.bad_input), (2, 1));
    assert_eq!(
        summary.bad_input_examples,
        vec!["f.csv:3: bad line: column 3 (from) is empty"]
    );
}

#[tokio::test(start_paused = true)]
async fn records_are_keyed_by_the_follower_in_csv_or_json() {
    for format in [PayloadFormat::Csv, PayloadFormat::Json] {
        let sink = Arc::new(MemoryRecordSink::new());
        let generated = EdgeGenerator::new(
            &GeneratorConfig::builder()
                .persons(50)
                .edges(400)
                .build()
                .unwrap(),
        )
        .unwrap()
        .map(|e| {
            Ok(FollowsEdge::new(
                format!("p{}", e.from),
                format!("p{}", e.to),
                "d",
            ))
        });
        let config = DriverConfig::builder().payload(format).build().unwrap();
        run_driver(&config, sink.clone(), generated, Arc::new(NoProgress))
            .await
            .unwrap();
        let records = sink.records();
        assert_eq!(records.len(), 400);
        for r in &records {
            let edge = FollowsEdge::decode(&r.data).unwrap();
            assert_eq!(r.partition_key, edge.from);
            assert_eq!(r.data.first() == Some(&b'{'), format == PayloadFormat::Json);
        }
    }
}

#[test]
fn invalid_driver_configurations_name_the_field() {
    let err = DriverConfig::builder()
        .max_records_per_put(501)
        .build()
        .unwrap_err();
    assert_eq!(err.field, "max_records_per_put");
    let err = DriverConfig::builder()
        .period(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field, "period");
    let backwards = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
    let err = DriverConfig::builder()
        .retry(backwards)
        .build()
        .unwrap_err();
    assert_eq!(err.field, "retry");
    assert_eq!(DriverConfig::default().target_rate(), 1_000.0);
}
