//! The bulk-loader client against a local HTTP server that answers as Neptune's loader
//! documents, from a script of answers, and records what the client sent.

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use neptune_batch::load::bulk_loader::{
    BulkLoadError, BulkLoaderClient, BulkLoaderConfig, BulkLoaderConfigBuilder, LoadMode,
    LoadRequest, LoadStatus, LoadStatusReport, Parallelism, RequestSigner,
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use stream2neptune_common::{Backoff, Classify, ErrorKind};

/// One request as the stub received it.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    query: Option<String>,
    authorization: Option<String>,
    content_type: Option<String>,
    body: String,
}

#[derive(Default)]
struct Script {
    /// Answers to POST requests, in order; the last one repeats.
    post: VecDeque<(u16, String)>,
    /// Answers to GET requests, in order; the last one repeats.
    get: VecDeque<(u16, String)>,
    log: Vec<Recorded>,
}

type Stub = Arc<Mutex<Script>>;

async fn answer(
    State(stub): State<Stub>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let mut script = stub.lock().unwrap();
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    script.log.push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query,
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let queue = if method == Method::POST {
        &mut script.post
    } else {
        &mut script.get
    };
    let (status, body) = if queue.len() > 1 {
        queue.pop_front().unwrap()
    } else {
        queue.front().cloned().expect("the script has an answer")
    };
    (
        StatusCode::from_u16(status).unwrap(),
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
}

async fn start_stub(post: Vec<(u16, String)>, get: Vec<(u16, String)>) -> (String, Stub) {
    let stub: Stub = Arc::new(Mutex::new(Script {
        post: post.into(),
        get: get.into(),
        log: Vec::new(),
    }));
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(Arc::clone(&stub));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), stub)
}

fn started(load_id: &str) -> (u16, String) {
    (
        200,
        format!(r#"{{"status":"200 OK","payload":{{"loadId":"{load_id}"}}}}"#),
    )
}

fn status(code: &str, records: u64) -> (u16, String) {
    (
        200,
        serde_json::json!({
            "status": "200 OK",
            "payload": {
                "feedCount": [{ code: 1 }],
                "overallStatus": {
                    "fullUri": "s3://bucket/vertices/",
                    "runNumber": 1,
                    "retryNumber": 0,
                    "status": code,
                    "totalTimeSpent": 3,
                    "startTime": 1_700_000_000,
                    "totalRecords": records,
                    "totalDuplicates": 0,
                    "parsingErrors": 0,
                    "datatypeMismatchErrors": 0,
                    "insertErrors": 0
                }
            }
        })
        .to_string(),
    )
}

fn failed_with_errors() -> (u16, String) {
    let feed = serde_json::json!({
        "datatypeMismatchErrors": 0, "fullUri": "s3://bucket/vertices/bad.csv", "insertErrors": 0,
        "parsingErrors": 5, "retryNumber": 0, "runNumber": 1, "status": "LOAD_FAILED",
        "totalDuplicates": 0, "totalRecords": 5, "totalTimeSpent": 3.0
    });
    (
        200,
        serde_json::json!({
            "status": "200 OK",
            "payload": {
                "failedFeeds": [feed.clone()],
                "feedCount": [{ "LOAD_FAILED": 1 }],
                "overallStatus": feed,
                "errors": {
                    "endIndex": 2,
                    "errorLogs": [
                        { "errorCode": "PARSING_ERROR", "errorMessage": "Expected '<', found: |",
                          "fileName": "s3://bucket/vertices/bad.csv", "recordNum": 1 },
                        { "errorCode": "PARSING_ERROR", "errorMessage": "Expected '<', found: |",
                          "fileName": "s3://bucket/vertices/bad.csv", "recordNum": 2 }
                    ],
                    "loadId": "L-bad",
                    "startIndex": 1
                }
            }
        })
        .to_string(),
    )
}

/// Quick polls and retries, with room for each test to change them.
fn config(endpoint: &str) -> BulkLoaderConfigBuilder {
    BulkLoaderConfig::builder(endpoint)
        .request_timeout(Duration::from_secs(5))
        .poll_interval(Duration::from_millis(20))
        .deadline(Duration::from_secs(20))
        .retry(retries(2))
}

fn retries(max_retries: u32) -> Backoff {
    Backoff::new(Duration::from_millis(5), Duration::from_millis(20)).with_max_retries(max_retries)
}

fn loader(config: BulkLoaderConfigBuilder) -> BulkLoaderClient {
    BulkLoaderClient::new(config.build().expect("a valid configuration")).unwrap()
}

fn request() -> LoadRequest {
    LoadRequest::new(
        "s3://bucket/vertices/",
        "arn:aws:iam::123456789012:role/NeptuneLoadFromS3",
        "us-east-1",
    )
}

/// A guard against a hang: the test fails instead of waiting forever.
async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the client returned instead of hanging")
}

#[tokio::test]
async fn a_load_in_progress_is_polled_until_completed_with_progress_reported() {
    let (endpoint, stub) = start_stub(
        vec![started("L-1")],
        vec![
            status("LOAD_IN_QUEUE", 0),
            status("LOAD_IN_PROGRESS", 1000),
            status("LOAD_IN_PROGRESS", 250_000),
            status("LOAD_COMPLETED", 480_000),
        ],
    )
    .await;
    let client = loader(config(&endpoint));
    let mut seen: Vec<(LoadStatus, u64)> = Vec::new();
    let req = LoadRequest::builder(
        "s3://bucket/vertices/",
        "arn:aws:iam::123456789012:role/NeptuneLoadFromS3",
        "us-east-1",
    )
    .mode(LoadMode::Auto)
    .parallelism(Parallelism::Oversubscribe)
    .update_single_cardinality_properties(false)
    .queue_request(true)
    .dependencies(["L-0"])
    .build()
    .unwrap();
    let report = bounded(client.load(&req, |r| {
        seen.push((r.status.clone(), r.overall.total_records))
    }))
    .await
    .unwrap();

    assert_eq!(report.load_id, "L-1");
    assert_eq!(report.status, LoadStatus::Completed);
    assert_eq!(report.overall.total_records, 480_000);
    assert_eq!(report.feed_count, vec![("LOAD_COMPLETED".to_owned(), 1)]);
    assert_eq!(
        seen,
        vec![
            (LoadStatus::InQueue, 0),
            (LoadStatus::InProgress, 1000),
            (LoadStatus::InProgress, 250_000),
            (LoadStatus::Completed, 480_000),
        ]
    );

    let log = stub.lock().unwrap().log.clone();
    assert_eq!(log.len(), 5, "one POST and four GETs: {log:?}");
    let post = &log[0];
    assert_eq!(
        (post.method.as_str(), post.path.as_str()),
        ("POST", "/loader")
    );
    assert_eq!(post.content_type.as_deref(), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "source": "s3://bucket/vertices/",
            "format": "csv",
            "iamRoleArn": "arn:aws:iam::123456789012:role/NeptuneLoadFromS3",
            "region": "us-east-1",
            "failOnError": "FALSE",
            "mode": "AUTO",
            "parallelism": "OVERSUBSCRIBE",
            "updateSingleCardinalityProperties": "FALSE",
            "queueRequest": "TRUE",
            "dependencies": ["L-0"],
        })
    );
    for get in &log[1..] {
        assert_eq!(
            (get.method.as_str(), get.path.as_str()),
            ("GET", "/loader/L-1")
        );
        assert_eq!(get.query.as_deref(), Some("details=true&errors=true"));
    }
}

#[tokio::test]
async fn a_failed_load_ends_polling_with_its_failed_feeds_and_error_records() {
    let (endpoint, stub) = start_stub(
        vec![started("L-bad")],
        vec![status("LOAD_IN_PROGRESS", 2), failed_with_errors()],
    )
    .await;
    let client = loader(config(&endpoint));
    let err = bounded(client.load(&request(), |_| {})).await.unwrap_err();
    let BulkLoadError::LoadFailed { report } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(report.status, LoadStatus::Failed);
    assert_eq!(report.overall.parsing_errors, 5);
    assert_eq!(report.failed_feeds.len(), 1);
    assert_eq!(
        report.failed_feeds[0].full_uri,
        "s3://bucket/vertices/bad.csv"
    );
    assert_eq!(report.errors.len(), 2);
    assert_eq!(report.errors[1].error_code, "PARSING_ERROR");
    assert_eq!(report.errors[1].record_num, 2);
    assert!(!err.is_retriable(), "a parsing failure stays a failure");
    assert!(err.to_string().contains("LOAD_FAILED"), "{err}");
    assert_eq!(
        stub.lock().unwrap().log.len(),
        3,
        "no poll after the failure"
    );
}

#[tokio::test]
async fn every_documented_failure_status_ends_polling() {
    for code in [
        "LOAD_CANCELLED_BY_USER",
        "LOAD_CANCELLED_DUE_TO_ERRORS",
        "LOAD_UNEXPECTED_ERROR",
        "LOAD_S3_READ_ERROR",
        "LOAD_S3_ACCESS_DENIED_ERROR",
        "LOAD_COMMITTED_W_WRITE_CONFLICTS",
        "LOAD_DATA_DEADLOCK",
        "LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED",
        "LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED",
        "LOAD_FAILED_INVALID_REQUEST",
    ] {
        let (endpoint, _stub) = start_stub(vec![started("L")], vec![status(code, 1)]).await;
        let client = loader(config(&endpoint));
        let err = bounded(client.wait_for_load("L", |_| {}))
            .await
            .unwrap_err();
        let BulkLoadError::LoadFailed { report } = &err else {
            panic!("{code}: {err:?}")
        };
        assert_eq!(report.status.code(), code);
    }
}

#[tokio::test]
async fn a_server_error_is_retried_and_the_load_starts_once() {
    let (endpoint, stub) = start_stub(
        vec![
            (
                500,
                r#"{"code":"InternalFailureException","detailedMessage":"try again"}"#.into(),
            ),
            started("L-2"),
        ],
        vec![(503, "unavailable".into()), status("LOAD_COMPLETED", 10)],
    )
    .await;
    let client = loader(config(&endpoint));
    let report = bounded(client.load(&request(), |_| {})).await.unwrap();
    assert_eq!(report.load_id, "L-2");
    let log = stub.lock().unwrap().log.clone();
    let methods: Vec<&str> = log.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, vec!["POST", "POST", "GET", "GET"]);
    assert_eq!(
        log[0].body, log[1].body,
        "the retried POST sends the same body"
    );
}

#[tokio::test]
async fn a_server_error_on_every_attempt_gives_up_after_the_last_retry() {
    let (endpoint, stub) = start_stub(
        vec![(
            500,
            r#"{"code":"InternalFailureException","detailedMessage":"down"}"#.into(),
        )],
        vec![],
    )
    .await;
    let client = loader(config(&endpoint));
    let err = bounded(client.start_load(&request())).await.unwrap_err();
    let BulkLoadError::RetriesExhausted { attempts, last } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*attempts, 3);
    assert!(
        matches!(&**last, BulkLoadError::Http { status: 500, code, message, .. }
            if code == "InternalFailureException" && message == "down"),
        "{last:?}"
    );
    assert_eq!(stub.lock().unwrap().log.len(), 3);
}

#[tokio::test]
async fn a_bad_request_is_not_retried_and_names_neptunes_code() {
    let (endpoint, stub) = start_stub(
        vec![(
            400,
            r#"{"requestId":"r-1","code":"BadRequestException","detailedMessage":"Invalid s3 source"}"#
                .into(),
        )],
        vec![],
    )
    .await;
    let client = loader(config(&endpoint));
    let err = bounded(client.start_load(&request())).await.unwrap_err();
    assert!(
        matches!(&err, BulkLoadError::Http { status: 400, code, .. } if code == "BadRequestException"),
        "{err:?}"
    );
    assert!(!err.is_retriable());
    assert!(err.to_string().contains("Invalid s3 source"), "{err}");
    assert_eq!(stub.lock().unwrap().log.len(), 1);
}

#[tokio::test]
async fn a_malformed_answer_is_a_clear_error_quoting_the_body() {
    let (endpoint, _stub) = start_stub(
        vec![(200, r#"{"status":"200 OK","payload":{}}"#.into())],
        vec![(200, "<html>proxy error</html>".into())],
    )
    .await;
    let client = loader(config(&endpoint));

    let err = bounded(client.start_load(&request())).await.unwrap_err();
    assert!(
        matches!(err, BulkLoadError::MalformedResponse { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("loadId"), "{err}");
    assert!(!err.is_retriable());

    let err = bounded(client.load_status("L")).await.unwrap_err();
    assert!(
        matches!(err, BulkLoadError::MalformedResponse { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("<html>proxy error</html>"),
        "{err}"
    );
}

/// A server that accepts connections and reads, but never answers.
async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (format!("http://{address}"), task)
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_instead_of_hanging() {
    let (endpoint, server) = silent_server().await;
    let client = loader(
        config(&endpoint)
            .request_timeout(Duration::from_millis(300))
            .retry(retries(1)),
    );

    // A status poll is safe to repeat: it is retried, then given up.
    let err = bounded(client.load_status("L")).await.unwrap_err();
    let BulkLoadError::RetriesExhausted { attempts, last } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*attempts, 2);
    assert!(
        matches!(&**last, BulkLoadError::Timeout { method: "GET", .. }),
        "{last:?}"
    );
    assert!(err.is_retriable());

    // A POST that timed out may have started a load: it is not sent again.
    let err = bounded(client.start_load(&request())).await.unwrap_err();
    assert!(
        matches!(err, BulkLoadError::Timeout { method: "POST", .. }),
        "{err:?}"
    );
    server.abort();
}

#[tokio::test]
async fn a_load_still_running_at_the_deadline_ends_with_its_last_status() {
    let (endpoint, _stub) =
        start_stub(vec![started("L-slow")], vec![status("LOAD_IN_PROGRESS", 7)]).await;
    let client = loader(
        config(&endpoint)
            .deadline(Duration::from_millis(300))
            .poll_interval(Duration::from_millis(50)),
    );
    let mut polls = 0;
    let err = bounded(client.load(&request(), |_| polls += 1))
        .await
        .unwrap_err();
    let BulkLoadError::DeadlineExceeded { load_id, last, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(load_id, "L-slow");
    assert_eq!(last.as_ref().unwrap().overall.total_records, 7);
    assert!(polls >= 1);
    assert!(err.is_retriable());
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_reported() {
    // Bind then drop: the port is very likely closed.
    let address = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let client = loader(config(&format!("http://{address}")));
    let err = bounded(client.load_status("L")).await.unwrap_err();
    let BulkLoadError::RetriesExhausted { attempts, last } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*attempts, 3);
    assert!(matches!(&**last, BulkLoadError::Connect { .. }), "{last:?}");
}

/// Signs by adding a header that names the request, so the test can tell each attempt was
/// signed with its final method and URL.
struct HeaderSigner;

#[async_trait]
impl RequestSigner for HeaderSigner {
    async fn sign(
        &self,
        request: &mut reqwest::Request,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let value = format!("TEST {} {}", request.method(), request.url().path());
        request
            .headers_mut()
            .insert("authorization", value.parse()?);
        Ok(())
    }
}

#[tokio::test]
async fn a_signer_signs_every_attempt_of_every_call() {
    let (endpoint, stub) = start_stub(
        vec![(502, "bad gateway".into()), started("L-3")],
        vec![status("LOAD_COMPLETED", 1)],
    )
    .await;
    let client = loader(config(&endpoint)).with_signer(Arc::new(HeaderSigner));
    let report: LoadStatusReport = bounded(client.load(&request(), |_| {})).await.unwrap();
    assert_eq!(report.load_id, "L-3");
    let auth: Vec<Option<String>> = stub
        .lock()
        .unwrap()
        .log
        .iter()
        .map(|r| r.authorization.clone())
        .collect();
    assert_eq!(
        auth,
        vec![
            Some("TEST POST /loader".into()),
            Some("TEST POST /loader".into()),
            Some("TEST GET /loader/L-3".into()),
        ]
    );
}

struct FailingSigner;

#[async_trait]
impl RequestSigner for FailingSigner {
    async fn sign(
        &self,
        _request: &mut reqwest::Request,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Err("no credentials in the chain".into())
    }
}

#[tokio::test]
async fn a_signer_failure_stops_the_call_before_anything_is_sent() {
    let (endpoint, stub) = start_stub(vec![started("L")], vec![]).await;
    let client = loader(config(&endpoint)).with_signer(Arc::new(FailingSigner));
    let err = bounded(client.start_load(&request())).await.unwrap_err();
    assert!(
        matches!(err, BulkLoadError::Signing(ref e) if e.to_string().contains("no credentials"))
    );
    assert_eq!(err.kind(), ErrorKind::Usage);
    assert!(stub.lock().unwrap().log.is_empty());
}
