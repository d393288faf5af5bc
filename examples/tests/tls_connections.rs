//! The binaries over `wss://`, against the Gremlin Server that `GREMLIN_TLS=1
//! scripts/gremlin-server.sh start` runs with a certificate from a private CA (issued for
//! `localhost` and `neptune.cluster.example`, not for the address 127.0.0.1): the main job with
//! the CA given as a file writes every edge; an untrusted certificate and a certificate for
//! another name are refused with one line naming the problem and exit status 78; through a
//! tunnel (a TCP forwarder on 127.0.0.1) the certificate is verified for the cluster's name.
//!
//! With IAM authentication through a load balancer (the same forwarder), in front of the plain
//! Gremlin Server (`scripts/gremlin-server.sh start`) behind a gate that checks every upgrade's
//! SigV4 signature for the cluster's own host, as Neptune does (`local_services::SigV4Gate`):
//! a binary given `--signing-host` writes its data; without it, it signs for the balancer and is
//! refused on one line, with exit status 78.

mod common;

use local_services::{SigV4Gate, SigV4Verifier, SignatureError};
use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::transport::{GremlinTransport, TransportConfig};
use std::process::{Command, Output};

/// The cluster's endpoint the IAM test signs for: what Neptune checks signatures against.
const CLUSTER: &str = "neptune.cluster.example:8182";
/// The test's own credentials, known to the gate only.
const KEY_ID: &str = "AKIDLOADBALANCEDTEST";
const SECRET: &str = "balanced/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "session-token-of-the-test";
const REGION: &str = "eu-west-1";

async fn server() -> local_services::GremlinTlsEndpoint {
    local_services::gremlin_tls()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A binary with the connection settings of the environment removed (TLS, IAM, AWS
/// credentials), so that only those given count.
fn command(path: &str) -> Command {
    let mut c = Command::new(path);
    for var in [
        "GREMLIN_URL",
        "GREMLIN_CA_FILE",
        "GREMLIN_TLS_SERVER_NAME",
        "GREMLIN_SIGNING_HOST",
        "GREMLIN_IAM_AUTH",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ] {
        c.env_remove(var);
    }
    c
}

fn show(what: &str, out: &Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    println!("--- {what}: exit {:?}\n{stdout}{stderr}", out.status.code());
    (stdout, stderr)
}

fn first_number(value: &str) -> u64 {
    value
        .split(|c: char| !c.is_ascii_digit())
        .find_map(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {value:?}"))
}

/// The error line a binary printed (`NAME: error: ...`): exactly one.
fn error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(lines.len(), 1, "one error line:\n{stderr}");
    lines[0].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_job_over_wss_with_the_projects_ca_writes_every_edge() {
    let tls = server().await;
    let out = tempfile::tempdir().unwrap();
    let run = command(env!("CARGO_BIN_EXE_stream-2-neptune"))
        .args(["--persons", "300", "--edges", "3000", "--seed", "26"])
        .arg("--no-progress")
        .arg("--ca-file")
        .arg(&tls.ca_file)
        .arg("--out-dir")
        .arg(out.path())
        .env("GREMLIN_URL", &tls.url)
        .output()
        .expect("run stream-2-neptune");
    let (stdout, stderr) = show("stream-2-neptune over wss://", &run);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains(&tls.url), "the run names its wss:// server");
    let lines = common::summary(&stdout);
    let put = first_number(&lines["edges put on the stream"]);
    let written = first_number(&lines["edges written"]);
    let present = first_number(&lines["edges already present"]);
    assert_eq!(put, 3000, "{stdout}");
    assert_eq!(
        written + present,
        put,
        "every edge is in the graph: {stdout}"
    );
    assert!(written > 0, "{stdout}");
    assert!(lines["dead letters"].starts_with("0 "), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_job_refuses_an_untrusted_certificate_with_one_line_and_status_78() {
    let tls = server().await;
    let out = tempfile::tempdir().unwrap();
    // No CA file: the platform's roots do not hold the test CA.
    let run = command(env!("CARGO_BIN_EXE_stream-2-neptune"))
        .args(["--persons", "50", "--edges", "100", "--no-progress"])
        .arg("--out-dir")
        .arg(out.path())
        .env("GREMLIN_URL", &tls.url)
        .output()
        .expect("run stream-2-neptune");
    let (_, stderr) = show("stream-2-neptune, CA not trusted", &run);
    let line = error_line(&stderr);
    assert!(line.starts_with("stream-2-neptune: error: "), "{line}");
    assert!(line.contains("certificate"), "{line}");
    assert!(line.contains("UnknownIssuer"), "{line}");
    assert_eq!(run.status.code(), Some(78), "a setting to change: {line}");
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_with_one_line_and_status_78() {
    let tls = server().await;
    // The address is not on the certificate.
    let by_address = format!("wss://127.0.0.1:{}/gremlin", tls.port);
    let run = command(env!("CARGO_BIN_EXE_social-queries"))
        .args(["--gremlin-url", &by_address, "--limit", "1"])
        .arg("--ca-file")
        .arg(&tls.ca_file)
        .output()
        .expect("run social-queries");
    let (_, stderr) = show("social-queries by address", &run);
    let line = error_line(&stderr);
    assert!(line.contains("not valid for name"), "{line}");
    assert!(line.contains("127.0.0.1"), "{line}");
    assert_eq!(run.status.code(), Some(78), "{line}");

    // A name given, but not the certificate's.
    let run = command(env!("CARGO_BIN_EXE_social-queries"))
        .args(["--gremlin-url", &tls.url, "--limit", "1"])
        .args(["--tls-server-name", "other.cluster.example"])
        .env("GREMLIN_CA_FILE", &tls.ca_file)
        .output()
        .expect("run social-queries");
    let (_, stderr) = show("social-queries, another name", &run);
    let line = error_line(&stderr);
    assert!(line.contains("not valid for name"), "{line}");
    assert!(line.contains("other.cluster.example"), "{line}");
    assert_eq!(run.status.code(), Some(78), "{line}");
}

// Two workers: the tunnel relays on the test's runtime while the binary runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_tunnel_the_binaries_verify_the_clusters_name() {
    let tls = server().await;
    let tunnel = local_services::TcpForwarder::start(&format!("{}:{}", tls.host, tls.port))
        .await
        .unwrap();
    let url = format!("wss://127.0.0.1:{}/gremlin", tunnel.port());
    let mut social_queries = command(env!("CARGO_BIN_EXE_social-queries"));
    social_queries
        .args(["--limit", "1"])
        .env("GREMLIN_URL", &url)
        .env("GREMLIN_TLS_SERVER_NAME", "neptune.cluster.example")
        .env("GREMLIN_CA_FILE", &tls.ca_file);
    let run = tokio::task::spawn_blocking(move || social_queries.output())
        .await
        .unwrap()
        .expect("run social-queries");
    let (stdout, stderr) = show("social-queries through a tunnel", &run);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("most followers"), "{stdout}");
    assert!(
        tunnel.connections() >= 1,
        "the connection went through the tunnel"
    );
}

/// The vertices of `ids` the graph at `url` holds.
async fn vertices_present(url: &str, ids: &[String]) -> i64 {
    let transport = GremlinTransport::connect(TransportConfig::new(url))
        .await
        .expect("connect to the server behind the gate");
    let ids: Vec<GValue> = ids.iter().map(|id| GValue::from(id.clone())).collect();
    let answer = transport
        .submit(&Bytecode::new().step("V", ids).then("count"))
        .await
        .expect("a count");
    answer[0].as_i64().expect("a number")
}

// Two workers: the balancer and the gate relay on the test's runtime while the binary runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_iam_through_a_balancer_the_binary_signs_for_the_clusters_host() {
    let server = local_services::gremlin()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !server.tls,
        "the gate reads the upgrade: GREMLIN_URL must name a ws:// server, not {}",
        server.url
    );
    // Neptune: the server behind the gate that checks signatures for the cluster's host.
    let verifier = SigV4Verifier::new(KEY_ID, SECRET, REGION).for_host(CLUSTER);
    let gate = SigV4Gate::start(&format!("{}:{}", server.host, server.port), verifier)
        .await
        .unwrap();
    let balancer = local_services::TcpForwarder::start(&gate.addr().to_string())
        .await
        .unwrap();
    // IAM over ws:// is allowed to a loopback address only, which the balancer is here.
    let url = format!("ws://127.0.0.1:{}/gremlin", balancer.port());
    let prefix = local_services::unique_name("iam-balanced");
    let ids: Vec<String> = (0..25).map(|i| format!("{prefix}-{i}")).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    let rows: String = ids.iter().map(|id| format!("{id},person,{id}\n")).collect();
    std::fs::write(&file, format!("~id,~label,name:String\n{rows}")).unwrap();
    let load = |signing_host: Option<&str>| {
        let mut c = command(env!("CARGO_BIN_EXE_load-vertices"));
        c.arg("csv")
            .arg(&file)
            .args(["--gremlin-url", &url, "--iam-auth", "--no-progress"])
            .args(
                signing_host
                    .map(|h| ["--signing-host", h])
                    .into_iter()
                    .flatten(),
            )
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SESSION_TOKEN", TOKEN)
            .env("AWS_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        tokio::task::spawn_blocking(move || c.output().expect("run load-vertices"))
    };

    // Without --signing-host the upgrade is signed for the balancer's address.
    let run = load(None).await.unwrap();
    let (_, stderr) = show("load-vertices --iam-auth, signed for the balancer", &run);
    let line = error_line(&stderr);
    assert!(line.starts_with("load-vertices: error: "), "{line}");
    assert!(line.contains("403"), "{line}");
    assert!(line.contains("AccessDeniedException"), "{line}");
    assert!(
        line.contains(&format!("not valid for the host {CLUSTER}")),
        "{line}"
    );
    assert_eq!(run.status.code(), Some(78), "a setting to change: {line}");
    assert_eq!(
        gate.refused(),
        vec![SignatureError::WrongHost {
            expected: CLUSTER.to_owned(),
            signed: format!("127.0.0.1:{}", balancer.port()),
        }]
    );
    assert_eq!(gate.accepted(), 0);
    assert_eq!(vertices_present(&server.url, &ids).await, 0);

    // Signed for the cluster: let through, every vertex written.
    let run = load(Some(CLUSTER)).await.unwrap();
    let (stdout, stderr) = show("load-vertices --iam-auth --signing-host", &run);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("25 rows, 25 written"), "{stdout}");
    assert!(gate.accepted() >= 1, "the signature was checked and held");
    assert_eq!(gate.refused().len(), 1, "no other refusal");
    assert!(
        balancer.connections() >= 2,
        "both runs went through the balancer"
    );
    assert_eq!(vertices_present(&server.url, &ids).await, 25);
}
