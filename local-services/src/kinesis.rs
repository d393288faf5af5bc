//! The Kinesis Data Streams API: from the environment, or an emulator embedded in this process.
//!
//! The embedded emulator is `ferrokinesis` (pinned), served over HTTP on a loopback port so the
//! real `aws-sdk-kinesis` client reaches it through `endpoint_url`, exactly as it reaches AWS. It
//! was chosen after measuring the candidates on this kind of machine (see the README's
//! "Local services" section): it gets resharding right (parent lineage, closed shards read to
//! their end), it is fast enough that pipeline figures measure the pipeline, and it needs no
//! process of its own. In front of it: the child shards of a closed shard in the answer that
//! ends it (below), and enhanced fan-out pushed as puts land ([`crate::kinesis_fan_out`]).

use crate::embedded_server::EmbeddedServer;
use crate::kinesis_fan_out::FanOut;
use axum::response::IntoResponse;
use ferrokinesis::store::StoreOptions;
use std::sync::OnceLock;
use std::time::Duration;

/// A Kinesis API endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisEndpoint {
    /// `None` for AWS itself (standard credential chain and region), else the URL to pass to
    /// the SDK's `endpoint_url`.
    pub url: Option<String>,
    /// Whether it is the emulator embedded in this process (it stops with the process).
    pub embedded: bool,
}

/// Settings of an embedded emulator.
#[derive(Debug, Clone)]
pub struct EmbeddedKinesisOptions {
    /// How long a shard iterator lives (AWS: 5 minutes).
    pub iterator_ttl: Duration,
    /// Delay before a created stream becomes ACTIVE.
    pub create_stream_delay: Duration,
    /// Delay before a resharded stream becomes ACTIVE again.
    pub update_stream_delay: Duration,
    /// Open shards allowed across all streams.
    pub shard_limit: u32,
    /// Enforce the per-shard write limits (1 MB/s, 1000 records/s) with throttling errors.
    pub enforce_limits: bool,
}

impl Default for EmbeddedKinesisOptions {
    fn default() -> Self {
        Self {
            iterator_ttl: Duration::from_secs(300),
            create_stream_delay: Duration::from_millis(50),
            update_stream_delay: Duration::from_millis(50),
            shard_limit: 500,
            enforce_limits: false,
        }
    }
}

/// A Kinesis emulator served on a loopback port by a thread of its own. Dropping it stops it.
pub struct EmbeddedKinesis {
    server: EmbeddedServer,
}

impl std::fmt::Debug for EmbeddedKinesis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedKinesis")
            .field("url", &self.url())
            .finish()
    }
}

impl EmbeddedKinesis {
    /// Starts an emulator on `127.0.0.1:port` (`0` picks a free port).
    pub fn start(options: EmbeddedKinesisOptions, port: u16) -> std::io::Result<Self> {
        let server =
            EmbeddedServer::start("kinesis", port, move |listener, shutdown| async move {
                let store_options = StoreOptions {
                    create_stream_ms: options.create_stream_delay.as_millis() as u64,
                    delete_stream_ms: 0,
                    update_stream_ms: options.update_stream_delay.as_millis() as u64,
                    shard_limit: options.shard_limit,
                    iterator_ttl_seconds: options.iterator_ttl.as_secs().max(1),
                    enforce_limits: options.enforce_limits,
                    ..StoreOptions::default()
                };
                let (app, store) = ferrokinesis::create_app(store_options);
                // Requests up to the API's own limit (a 5 MiB PutRecords plus its JSON
                // framing), above the web framework's 2 MiB default.
                let app = app.layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES));
                let app = app.layer(axum::middleware::from_fn(
                    move |request: axum::extract::Request, next: axum::middleware::Next| {
                        child_shards_at_shard_end(store.clone(), request, next)
                    },
                ));
                // One request at a time inside the emulator. Its store keeps map guards
                // across awaits and takes the same maps' write locks synchronously, so two
                // overlapping requests (a PutRecords beside GetRecords calls at 20 000
                // records/s) could block its one worker thread for good; the main job
                // stalled that way. Each request takes microseconds to a few milliseconds,
                // and the runtime has one worker anyway, so little is lost.
                let gate = std::sync::Arc::new(tokio::sync::Mutex::new(()));
                let app = app.layer(axum::middleware::from_fn(
                    move |request: axum::extract::Request, next: axum::middleware::Next| {
                        let gate = gate.clone();
                        async move {
                            let _turn = gate.lock().await;
                            next.run(request).await
                        }
                    },
                ));
                // Fan-out subscriptions outside the gate: each of their reads takes a turn,
                // their waits for new records do not.
                let fan_out = FanOut::new(app.clone());
                let app = app.layer(axum::middleware::from_fn(
                    move |request: axum::extract::Request, next: axum::middleware::Next| {
                        fan_out.clone().handle(request, next)
                    },
                ));
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await;
            })?;
        Ok(Self { server })
    }

    /// The URL to pass to the SDK's `endpoint_url`.
    pub fn url(&self) -> &str {
        self.server.url()
    }
}

/// The largest request the emulator reads: a 5 MiB `PutRecords` plus its JSON framing.
pub(crate) const MAX_REQUEST_BYTES: usize = 7 * 1024 * 1024;

/// A request header's value as text (empty when missing or not text).
pub(crate) fn header(headers: &axum::http::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Adds `ChildShards` to a `GetRecords` answer that ends a closed shard, which the emulator
/// leaves out. Kinesis names a closed shard's children in the answer that has no next iterator,
/// and KCL (2.3 and newer) relies on it: it refuses a shard-end answer without children as
/// invalid and retries forever, so the parent never ends and its children never start. The
/// children are the shards whose parent (or adjacent parent, for a merge) is this one.
///
/// Only JSON requests are completed (the AWS SDK for Rust speaks JSON to Kinesis; Java clients
/// must be told `-Daws.cborEnabled=false`, as `scripts/kcl-fleet.sh` does for a local endpoint).
async fn child_shards_at_shard_end(
    store: ferrokinesis::store::Store,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::body::Body;
    let is_json_get_records = header(request.headers(), "x-amz-target").ends_with(".GetRecords")
        && header(request.headers(), "content-type").contains("json");
    if !is_json_get_records {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let shard = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["ShardIterator"].as_str().map(str::to_owned))
        .and_then(|it| ferrokinesis::shard_iterator::decode_shard_iterator(&it).ok())
        .map(|(_, stream, shard, _)| (stream, shard));
    let response = next
        .run(axum::extract::Request::from_parts(parts, Body::from(bytes)))
        .await;
    let Some((stream, shard)) = shard.filter(|_| response.status().is_success()) else {
        return response;
    };
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut answer = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) if v.get("NextShardIterator").is_none() && v.get("ChildShards").is_none() => v,
        _ => return axum::response::Response::from_parts(parts, Body::from(bytes)),
    };
    if let Ok(s) = store.get_stream(&stream).await {
        let children: Vec<serde_json::Value> = s
            .shards
            .iter()
            .filter(|c| {
                c.parent_shard_id.as_deref() == Some(shard.as_str())
                    || c.adjacent_parent_shard_id.as_deref() == Some(shard.as_str())
            })
            .map(|c| {
                let parents: Vec<&str> = c
                    .parent_shard_id
                    .iter()
                    .chain(c.adjacent_parent_shard_id.iter())
                    .map(String::as_str)
                    .collect();
                serde_json::json!({
                    "ShardId": c.shard_id,
                    "ParentShards": parents,
                    "HashKeyRange": {
                        "StartingHashKey": c.hash_key_range.starting_hash_key,
                        "EndingHashKey": c.hash_key_range.ending_hash_key,
                    },
                })
            })
            .collect();
        answer["ChildShards"] = serde_json::Value::Array(children);
    }
    let body = serde_json::to_vec(&answer).expect("a JSON value serializes");
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, Body::from(body))
}

/// The Kinesis endpoint for this process: `KINESIS_ENDPOINT_URL` if set (the value `aws` means
/// AWS itself), else one emulator embedded in this process, shared by every caller.
pub fn kinesis() -> KinesisEndpoint {
    match std::env::var("KINESIS_ENDPOINT_URL") {
        Ok(v) if v == "aws" => KinesisEndpoint {
            url: None,
            embedded: false,
        },
        Ok(v) if !v.is_empty() => KinesisEndpoint {
            url: Some(v),
            embedded: false,
        },
        _ => {
            static SHARED: OnceLock<EmbeddedKinesis> = OnceLock::new();
            let emulator = SHARED.get_or_init(|| {
                EmbeddedKinesis::start(EmbeddedKinesisOptions::default(), 0)
                    .expect("binding a loopback port for the embedded Kinesis emulator")
            });
            KinesisEndpoint {
                url: Some(emulator.url().to_owned()),
                embedded: true,
            }
        }
    }
}
