//! The binaries over `wss://`, against the Gremlin Server that `GREMLIN_TLS=1
//! scripts/gremlin-server.sh start` runs with a certificate from a private CA (issued for
//! `localhost` and `neptune.cluster.example`, not for the address 127.0.0.1): the main job with
//! the CA given as a file writes every edge; an untrusted certificate and a certificate for
//! another name are refused with one line naming the problem and exit status 78; through a
//! tunnel (a TCP forwarder on 127.0.0.1) the certificate is verified for the cluster's name.

use std::collections::BTreeMap;
use std::process::{Command, Output};

async fn server() -> local_services::GremlinTlsEndpoint {
    local_services::gremlin_tls()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A binary with the TLS settings of the environment removed, so that only those given count.
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

/// The summary's lines, label to value (the lines after `Summary`, two spaces in, the label
/// padded to 30 columns).
fn summary(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .skip_while(|l| *l != "Summary")
        .skip(1)
        .filter_map(|l| {
            let l = l.strip_prefix("  ")?;
            let (label, value) = l.split_at_checked(30)?;
            Some((label.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
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
    let lines = summary(&stdout);
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
