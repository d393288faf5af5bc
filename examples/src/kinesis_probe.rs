//! The probe of a Kinesis API endpoint: PutRecords and GetRecords speed, and whether it gets
//! resharding right (lineage, closed parents read to their end, records of children). The
//! `kinesis-probe` binary runs it; use it before relying on an emulator for figures or for
//! resharding tests.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use kinesis_source::api::{ApiError, ApiErrorKind, KinesisApi, SdkKinesisApi};
use kinesis_source::StreamRef;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether the endpoint answers Kinesis calls: a stream that does not exist is asked for, and
/// the answer that it does not exist is the proof. An endpoint that does not answer is an
/// [`ApiError`] that says so, in one line, before any figure is measured.
pub async fn answers(client: &aws_sdk_kinesis::Client) -> Result<(), ApiError> {
    let api = SdkKinesisApi::new(client.clone());
    let nobody = StreamRef::parse(local_services::unique_name("probe-no-such-stream"));
    match api.describe_stream(&nobody).await {
        Err(e) if e.kind == ApiErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(_) => Ok(()),
    }
}

async fn create(client: &aws_sdk_kinesis::Client, name: &str, shards: i32) -> Result<(), BoxError> {
    local_services::create_stream_and_wait(client, name, shards, Duration::from_secs(60)).await
}

async fn wait_active(client: &aws_sdk_kinesis::Client, name: &str) -> Result<(), BoxError> {
    local_services::wait_until_active(client, name, Duration::from_secs(60)).await
}

async fn put(
    client: &aws_sdk_kinesis::Client,
    name: &str,
    from: usize,
    n: usize,
    size: usize,
) -> Result<(), BoxError> {
    let body = vec![b'x'; size.saturating_sub(12)];
    let mut i = from;
    while i < from + n {
        let end = (i + 500).min(from + n);
        let entries = (i..end)
            .map(|k| {
                let mut data = format!("{k:011},").into_bytes();
                data.extend_from_slice(&body);
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("key-{}", k % 101))
                    .data(Blob::new(data))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = client
            .put_records()
            .stream_name(name)
            .set_records(Some(entries))
            .send()
            .await?;
        if out.failed_record_count().unwrap_or(0) > 0 {
            return Err("PutRecords refused records".into());
        }
        i = end;
    }
    Ok(())
}

/// Reads a shard from TRIM_HORIZON until it is caught up (or closed); returns the record numbers
/// and whether the shard reported its end (no next iterator).
async fn read_shard(
    client: &aws_sdk_kinesis::Client,
    name: &str,
    shard: &str,
) -> Result<(Vec<usize>, bool), BoxError> {
    let mut it = Some(local_services::trim_horizon_iterator(client, name, shard).await?);
    let mut out = Vec::new();
    let mut empties = 0;
    while let Some(i) = it.take() {
        let r = client
            .get_records()
            .shard_iterator(i)
            .limit(10_000)
            .send()
            .await?;
        for rec in r.records() {
            let s = std::str::from_utf8(&rec.data().as_ref()[..11])?;
            out.push(s.parse()?);
        }
        if r.records().is_empty() {
            empties += 1;
            if empties > 2 {
                return Ok((out, false));
            }
        }
        match r.next_shard_iterator() {
            Some(n) => it = Some(n.to_owned()),
            None => return Ok((out, true)),
        }
    }
    Ok((out, true))
}

/// PutRecords then GetRecords of `records` records of `size` bytes on a new stream of 2 shards;
/// the line of figures.
pub async fn speed(
    client: &aws_sdk_kinesis::Client,
    records: usize,
    size: usize,
) -> Result<String, BoxError> {
    let name = local_services::unique_name("probe-speed");
    create(client, &name, 2).await?;
    let t = Instant::now();
    put(client, &name, 0, records, size).await?;
    let put_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut total = 0;
    for shard in client
        .list_shards()
        .stream_name(&name)
        .send()
        .await?
        .shards()
    {
        total += read_shard(client, &name, shard.shard_id()).await?.0.len();
    }
    let get_s = t.elapsed().as_secs_f64();
    let line = format!(
        "speed: put {records} x {size} B in {put_s:.2} s = {:.0} records/s; read {total} in {get_s:.2} s = {:.0} records/s",
        records as f64 / put_s,
        total as f64 / get_s
    );
    let _ = client.delete_stream().stream_name(&name).send().await;
    Ok(line)
}

/// Splits a shard of a new stream, then merges the children: what the endpoint got right, one
/// finding a line.
pub async fn resharding(client: &aws_sdk_kinesis::Client) -> Result<Vec<String>, BoxError> {
    let mut findings = Vec::new();
    let name = local_services::unique_name("probe-reshard");
    create(client, &name, 1).await?;
    put(client, &name, 0, 200, 100).await?;
    let shards = client.list_shards().stream_name(&name).send().await?;
    let parent = shards.shards()[0].clone();
    let start: u128 = parent
        .hash_key_range()
        .map(|h| h.starting_hash_key())
        .unwrap_or("0")
        .parse()?;
    let end: u128 = parent
        .hash_key_range()
        .map(|h| h.ending_hash_key())
        .unwrap_or("0")
        .parse()?;
    client
        .split_shard()
        .stream_name(&name)
        .shard_to_split(parent.shard_id())
        .new_starting_hash_key(((start + end) / 2).to_string())
        .send()
        .await?;
    wait_active(client, &name).await?;
    put(client, &name, 200, 200, 100).await?;
    let after = client.list_shards().stream_name(&name).send().await?;
    let children: Vec<_> = after
        .shards()
        .iter()
        .filter(|s| s.parent_shard_id() == Some(parent.shard_id()))
        .map(|s| s.shard_id().to_owned())
        .collect();
    findings.push(format!(
        "split: {} shards listed, {} children name the parent {}",
        after.shards().len(),
        children.len(),
        parent.shard_id()
    ));
    let closed = after
        .shards()
        .iter()
        .find(|s| s.shard_id() == parent.shard_id())
        .and_then(|s| s.sequence_number_range())
        .and_then(|r| r.ending_sequence_number())
        .is_some();
    findings.push(format!(
        "split: parent listed as closed (ending sequence number): {closed}"
    ));
    let (parent_records, parent_ended) = read_shard(client, &name, parent.shard_id()).await?;
    findings.push(format!(
        "split: parent holds {} of the 200 records put before the split, read to its end: {parent_ended}",
        parent_records.len()
    ));
    let mut child_records = 0;
    for c in &children {
        child_records += read_shard(client, &name, c).await?.0.len();
    }
    findings.push(format!(
        "split: children hold {child_records} of the 200 records put after the split"
    ));
    if children.len() == 2 {
        client
            .merge_shards()
            .stream_name(&name)
            .shard_to_merge(&children[0])
            .adjacent_shard_to_merge(&children[1])
            .send()
            .await?;
        wait_active(client, &name).await?;
        let merged = client.list_shards().stream_name(&name).send().await?;
        let lineage = merged
            .shards()
            .iter()
            .any(|s| s.parent_shard_id().is_some() && s.adjacent_parent_shard_id().is_some());
        findings.push(format!(
            "merge: {} shards listed, a child names both parents: {lineage}",
            merged.shards().len()
        ));
    }
    let _ = client.delete_stream().stream_name(&name).send().await;
    Ok(findings)
}
