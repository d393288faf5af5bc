//! AWS SDK clients pointed at an endpoint.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use std::time::Duration;

/// SDK configuration for `endpoint_url`: the standard credential chain and region when talking
/// to AWS itself (`None`), or fixed dummy credentials and `us-east-1` for a local emulator
/// (emulators do not check signatures). Every call has connect and operation timeouts, so a
/// service that stops answering never hangs a caller.
pub async fn sdk_config(endpoint_url: Option<&str>) -> SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(Duration::from_secs(60))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
    if let Some(url) = endpoint_url {
        let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
        loader = loader
            .endpoint_url(url)
            .region(Region::new(region))
            .credentials_provider(Credentials::new(
                "local",
                "local",
                None,
                None,
                "local-services",
            ));
    }
    loader.load().await
}

/// A Kinesis client for `endpoint_url` (see [`sdk_config`]).
pub async fn kinesis_client(endpoint_url: Option<&str>) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(&sdk_config(endpoint_url).await)
}

/// A CloudWatch client for `endpoint_url` (see [`sdk_config`]).
pub async fn cloudwatch_client(endpoint_url: Option<&str>) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&sdk_config(endpoint_url).await)
}

/// Creates a stream of `shards` shards and waits until it is ACTIVE (emulators, like AWS, keep a
/// new stream CREATING for a while), polling every 50 ms for at most `timeout`.
pub async fn create_stream_and_wait(
    client: &aws_sdk_kinesis::Client,
    name: &str,
    shards: i32,
    timeout: Duration,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await?;
    wait_until_active(client, name, timeout).await
}

/// Waits until a stream is ACTIVE again (after creation or a reshard), polling every 50 ms for at
/// most `timeout`.
pub async fn wait_until_active(
    client: &aws_sdk_kinesis::Client,
    name: &str,
    timeout: Duration,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let summary = client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await?;
        let active = summary
            .stream_description_summary()
            .is_some_and(|s| s.stream_status() == &aws_sdk_kinesis::types::StreamStatus::Active);
        if active {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("stream {name} was not ACTIVE after {timeout:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ARN of `stream`.
pub async fn stream_arn(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let summary = client
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await?
        .stream_description_summary
        .ok_or_else(|| format!("no summary of stream {stream}"))?;
    Ok(summary.stream_arn)
}

/// Puts one record on `stream`: its sequence number.
pub async fn put_record(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    partition_key: &str,
    data: impl Into<Vec<u8>>,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let out = client
        .put_record()
        .stream_name(stream)
        .partition_key(partition_key)
        .data(aws_sdk_kinesis::primitives::Blob::new(data))
        .send()
        .await?;
    Ok(out.sequence_number)
}

/// Puts `records` (partition key, data) on `stream` in one `PutRecords` call (at most 500, the
/// API's limit). The answer says which failed: callers that expect none assert
/// `failed_record_count() == Some(0)`.
pub async fn put_records<K: Into<String>, D: Into<Vec<u8>>>(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    records: impl IntoIterator<Item = (K, D)>,
) -> Result<
    aws_sdk_kinesis::operation::put_records::PutRecordsOutput,
    Box<dyn std::error::Error + Send + Sync>,
> {
    let entries = records
        .into_iter()
        .map(|(key, data)| {
            aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                .partition_key(key)
                .data(aws_sdk_kinesis::primitives::Blob::new(data))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(client
        .put_records()
        .stream_name(stream)
        .set_records(Some(entries))
        .send()
        .await?)
}

/// The shards of `stream` (one `ListShards` call: enough for the few shards of a test stream).
pub async fn list_shards(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Result<Vec<aws_sdk_kinesis::types::Shard>, Box<dyn std::error::Error + Send + Sync>> {
    let out = client.list_shards().stream_name(stream).send().await?;
    Ok(out.shards.unwrap_or_default())
}

/// Splits `shard` of `stream` in the middle of its hash key range, without waiting: the stream
/// is `UPDATING` until the children are there ([`wait_until_active`]).
pub async fn split_shard_in_half(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    shard: &aws_sdk_kinesis::types::Shard,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let range = shard
        .hash_key_range()
        .ok_or_else(|| format!("shard {} has no hash key range", shard.shard_id()))?;
    let lo: u128 = range.starting_hash_key().parse()?;
    let hi: u128 = range.ending_hash_key().parse()?;
    client
        .split_shard()
        .stream_name(stream)
        .shard_to_split(shard.shard_id())
        .new_starting_hash_key((lo + (hi - lo) / 2).to_string())
        .send()
        .await?;
    Ok(())
}

/// Splits `shard`, which must cover the whole hash key range (the only shard of a new 1-shard
/// stream), at its middle, and waits until the stream is ACTIVE again with both children.
pub async fn split_whole_shard_and_wait(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    shard: &str,
    timeout: Duration,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    client
        .split_shard()
        .stream_name(stream)
        .shard_to_split(shard)
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await?;
    wait_until_active(client, stream, timeout).await
}

/// A `TRIM_HORIZON` iterator of `shard` (its oldest record on), for tests and probes that read
/// a whole shard with `GetRecords`.
pub async fn trim_horizon_iterator(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    shard: &str,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    client
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await?
        .shard_iterator
        .ok_or_else(|| format!("no iterator for {stream}/{shard}").into())
}
