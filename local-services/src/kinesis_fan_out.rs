//! Enhanced fan-out (`SubscribeToShard`) for the embedded Kinesis emulator, pushing each event
//! as soon as a put lands on the stream.
//!
//! The emulator answers `SubscribeToShard` itself, but it looks for new records every 200 ms
//! and sends an event after each look, so every record waits up to 200 ms before it is pushed:
//! a consumer's put-to-graph latency through fan-out would measure that wait rather than the
//! consumer. AWS pushes a record within about 70 ms of its put. Here a subscription reads the
//! shard through the emulator's own `GetShardIterator` and `GetRecords` (so positions, shard
//! ends, child shards and errors are the emulator's) and sends an event:
//!
//! * at once when the read finds records (and again at once while it keeps finding them);
//! * when a `PutRecord` or `PutRecords` to the emulator succeeds, after reading what it added;
//! * otherwise every [`HEARTBEAT`], empty, as AWS does, so a consumer sees the subscription
//!   alive and its `MillisBehindLatest`;
//! * with the shard's children, then ending the stream, when a closed shard is read to its end.
//!
//! A subscription ends after [`SESSION`] (5 minutes, as on AWS); the consumer subscribes again.
//! Only the JSON protocol is served this way (the AWS SDK for Rust speaks JSON); other clients
//! reach the emulator's own implementation.
//!
//! Why by hand: no crate serves `SubscribeToShard` over another Kinesis implementation; the
//! event-stream framing itself comes from the emulator (`aws-smithy-eventstream` underneath).

use crate::kinesis::{header, MAX_REQUEST_BYTES};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tower::ServiceExt;

/// The longest a subscription goes without an event.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a subscription lasts (AWS: 5 minutes).
pub(crate) const SESSION: Duration = Duration::from_secs(300);
/// Records per event at most (AWS's `GetRecords` limit).
const RECORDS_PER_EVENT: u32 = 10_000;
const JSON: &str = "application/x-amz-json-1.1";
const TARGET_PREFIX: &str = "Kinesis_20131202.";

/// The fan-out front of one emulator: the emulator's routes to read through, and a counter of
/// successful puts that wakes waiting subscriptions.
#[derive(Clone)]
pub(crate) struct FanOut {
    emulator: Router,
    puts: watch::Sender<u64>,
}

impl FanOut {
    /// A front reading through `emulator` (the emulator's routes with their own layers).
    pub(crate) fn new(emulator: Router) -> Self {
        Self {
            emulator,
            puts: watch::Sender::new(0),
        }
    }

    /// The middleware: serves JSON `SubscribeToShard`, counts successful puts, passes the rest.
    pub(crate) async fn handle(self, request: Request, next: Next) -> Response {
        let target = header(request.headers(), "x-amz-target");
        let json = header(request.headers(), "content-type").contains("json");
        let operation = target.rsplit('.').next().unwrap_or_default();
        match operation {
            "PutRecord" | "PutRecords" => {
                let response = next.run(request).await;
                if response.status().is_success() {
                    self.puts.send_modify(|n| *n = n.wrapping_add(1));
                }
                response
            }
            "SubscribeToShard" if json => self.subscribe(request).await,
            _ => next.run(request).await,
        }
    }

    async fn subscribe(self, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        };
        let input: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) => return client_error("SerializationException", "the body is not JSON"),
        };
        let caller = Caller {
            emulator: self.emulator.clone(),
            headers: signing_headers(&parts.headers),
        };
        let consumer = match caller
            .call(
                "DescribeStreamConsumer",
                json!({ "ConsumerARN": input["ConsumerARN"] }),
            )
            .await
        {
            Ok(v) => v,
            Err(refused) => return refused,
        };
        let consumer = &consumer["ConsumerDescription"];
        if consumer["ConsumerStatus"] != "ACTIVE" {
            return client_error("ResourceInUseException", "Consumer is not ACTIVE.");
        }
        let position = &input["StartingPosition"];
        // The emulator finds a stream by its name, which the consumer's ARN holds:
        // `arn:aws:kinesis:<region>:<account>:stream/<name>/consumer/<consumer>:<time>`.
        let stream = input["ConsumerARN"]
            .as_str()
            .and_then(|arn| arn.split_once(":stream/"))
            .and_then(|(_, rest)| rest.split_once("/consumer/"))
            .map(|(name, _)| name.to_owned());
        let mut iterator_request = json!({
            "StreamName": stream,
            "ShardId": input["ShardId"],
            "ShardIteratorType": position["Type"],
        });
        if let Some(s) = position.get("SequenceNumber") {
            iterator_request["StartingSequenceNumber"] = s.clone();
        }
        if let Some(t) = position.get("Timestamp") {
            iterator_request["Timestamp"] = t.clone();
        }
        let iterator = match caller.call("GetShardIterator", iterator_request).await {
            Ok(v) => v["ShardIterator"].as_str().map(str::to_owned),
            Err(refused) => return refused,
        };
        let Some(iterator) = iterator else {
            return client_error("ResourceNotFoundException", "no iterator for the shard");
        };
        let start = position["SequenceNumber"].as_str().map(str::to_owned);
        let subscription = Subscription {
            continuation: start.or_else(|| position_of(&iterator)).unwrap_or_default(),
            iterator: Some(iterator),
            caller,
            puts: self.puts.subscribe(),
            started: Instant::now(),
            greeted: false,
        };
        let frames = futures_util::stream::unfold(subscription, Subscription::next_frame);
        let mut response = Response::new(Body::from_stream(frames));
        response.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("application/vnd.amazon.eventstream"),
        );
        response
    }
}

/// Calls the emulator's own JSON API with the subscriber's signing headers (the emulator checks
/// that they are there, not what they sign).
#[derive(Clone)]
struct Caller {
    emulator: Router,
    headers: HeaderMap,
}

impl Caller {
    /// The answer, or the emulator's refusal as the response to pass on.
    async fn call(&self, operation: &str, input: Value) -> Result<Value, Response> {
        let mut request = Request::new(Body::from(input.to_string()));
        *request.method_mut() = axum::http::Method::POST;
        *request.headers_mut() = self.headers.clone();
        let h = request.headers_mut();
        h.insert("content-type", HeaderValue::from_static(JSON));
        h.insert(
            "x-amz-target",
            HeaderValue::from_str(&format!("{TARGET_PREFIX}{operation}"))
                .expect("an operation name is a header value"),
        );
        let response = match self.emulator.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        if !response.status().is_success() {
            return Err(response);
        }
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        serde_json::from_slice(&bytes)
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

/// The headers of the subscriber's request that the emulator wants on every call.
fn signing_headers(from: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in [
        "authorization",
        "x-amz-date",
        "date",
        "x-amz-security-token",
        "host",
    ] {
        if let Some(v) = from.get(name) {
            headers.insert(name, v.clone());
        }
    }
    headers
}

/// The sequence number a shard iterator reads from: the continuation to report while no record
/// has been pushed (a subscriber may resume at it).
fn position_of(iterator: &str) -> Option<String> {
    ferrokinesis::shard_iterator::decode_shard_iterator(iterator)
        .ok()
        .map(|(_, _, _, sequence)| sequence)
}

fn client_error(kind: &str, message: &str) -> Response {
    let mut response = (
        StatusCode::BAD_REQUEST,
        json!({ "__type": kind, "message": message }).to_string(),
    )
        .into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(JSON));
    response.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_str(kind).expect("a header value"),
    );
    response
}

/// One open subscription: where it reads, what it last reported.
struct Subscription {
    caller: Caller,
    /// `None` once the shard was read to its end.
    iterator: Option<String>,
    continuation: String,
    puts: watch::Receiver<u64>,
    started: Instant,
    greeted: bool,
}

impl Subscription {
    /// The next event-stream frame, or the end of the subscription.
    async fn next_frame(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        if !self.greeted {
            self.greeted = true;
            let hello = ferrokinesis::event_stream::encode_initial_response();
            return Some((Ok(Bytes::from(hello)), self));
        }
        let mut iterator = self.iterator.take()?;
        let last_event = Instant::now();
        loop {
            if self.started.elapsed() >= SESSION {
                return None;
            }
            // Puts from here on wake the wait below, so none slips between the read and it.
            self.puts.borrow_and_update();
            let mut answer = self
                .caller
                .call(
                    "GetRecords",
                    json!({ "ShardIterator": iterator, "Limit": RECORDS_PER_EVENT }),
                )
                .await
                // The iterator expired or the stream went away: end the subscription, and the
                // subscriber starts a new one (and hears the reason there).
                .ok()?;
            let records = match answer["Records"].take() {
                Value::Array(records) => records,
                _ => Vec::new(),
            };
            let next = answer["NextShardIterator"].as_str().map(str::to_owned);
            // The continuation is the last record pushed (resume after it), or where the
            // subscription started while none was.
            if let Some(last) = records.last().and_then(|r| r["SequenceNumber"].as_str()) {
                self.continuation = last.to_owned();
            }
            let heartbeat_due = last_event.elapsed() >= HEARTBEAT;
            if !records.is_empty() || next.is_none() || heartbeat_due {
                let mut event = json!({
                    "Records": records,
                    "ContinuationSequenceNumber": self.continuation,
                    "MillisBehindLatest": answer["MillisBehindLatest"].as_u64().unwrap_or(0),
                });
                if let Some(children) = answer.get("ChildShards") {
                    event["ChildShards"] = children.clone();
                }
                let payload = serde_json::to_vec(&event).expect("a JSON value serializes");
                let frame = ferrokinesis::event_stream::encode_subscribe_event(
                    &payload,
                    "application/json",
                );
                self.iterator = next;
                return Some((Ok(Bytes::from(frame)), self));
            }
            iterator = next.expect("an open shard has a next iterator");
            let wait = HEARTBEAT.saturating_sub(last_event.elapsed());
            tokio::select! {
                changed = self.puts.changed() => {
                    if changed.is_err() {
                        // No front left to count puts: wait out the heartbeat instead.
                        tokio::time::sleep(wait).await;
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
