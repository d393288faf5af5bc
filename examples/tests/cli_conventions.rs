//! Every binary follows the same command-line conventions (`docs/cli.md`): `--help` and
//! `--version` answer with no environment at all; every long option shows the environment
//! variable it can come from; the long help names `RUST_LOG`; a wrong argument exits 2; a
//! failure is one `NAME: error: ...` line on standard error with the status of its class.

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::Duration;

/// A binary and what its help must show.
struct Binary {
    name: &'static str,
    path: &'static str,
    /// Subcommands, each with options of its own.
    subcommands: &'static [&'static str],
    /// It draws progress, so it has `--no-progress`.
    progress: bool,
}

const fn bin(name: &'static str, path: &'static str) -> Binary {
    Binary {
        name,
        path,
        subcommands: &[],
        progress: false,
    }
}

const BINARIES: &[Binary] = &[
    Binary {
        progress: true,
        ..bin("stream-2-neptune", env!("CARGO_BIN_EXE_stream-2-neptune"))
    },
    Binary {
        progress: true,
        ..bin("stream-to-graph", env!("CARGO_BIN_EXE_stream-to-graph"))
    },
    Binary {
        subcommands: &["csv", "bulk"],
        ..bin("load-vertices", env!("CARGO_BIN_EXE_load-vertices"))
    },
    Binary {
        progress: true,
        ..bin("run-workload", env!("CARGO_BIN_EXE_run-workload"))
    },
    bin("social-queries", env!("CARGO_BIN_EXE_social-queries")),
    bin("kinesis-lambda", env!("CARGO_BIN_EXE_kinesis-lambda")),
    bin(
        "kcl-record-processor",
        env!("CARGO_BIN_EXE_kcl-record-processor"),
    ),
    bin("kcl-fleet-bench", env!("CARGO_BIN_EXE_kcl-fleet-bench")),
    bin("kinesis-probe", env!("CARGO_BIN_EXE_kinesis-probe")),
    bin("local-kinesis", env!("CARGO_BIN_EXE_local-kinesis")),
    bin("local-dynamodb", env!("CARGO_BIN_EXE_local-dynamodb")),
];

/// Runs a binary with no environment variable at all, but those given.
fn run(path: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(path)
        .env_clear()
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {path}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The long options of a `--help` text, each with its whole entry (the lines up to the next
/// option or section).
fn long_options(help: &str) -> Vec<(String, String)> {
    let mut options: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        let flag = if trimmed.starts_with("--") {
            Some(trimmed)
        } else if trimmed.starts_with('-') && trimmed.get(2..5) == Some(", -") {
            trimmed.get(4..)
        } else {
            None
        };
        if let Some(flag) = flag {
            let name = flag[2..]
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .next()
                .unwrap_or_default();
            // Short help keeps an option's whole entry on its line; long help goes on below.
            options.push((name.to_owned(), format!("{flag}\n")));
        } else if !line.starts_with(' ') && !line.is_empty() {
            // A section heading ends the last option's entry.
            options.push((String::new(), String::new()));
        } else if let Some((_, entry)) = options.last_mut() {
            entry.push_str(line);
            entry.push('\n');
        }
    }
    options.retain(|(name, _)| !name.is_empty());
    options
}

/// Checks that every long option of `help` shows its variable, and records them in `seen`
/// (option -> variable -> where).
fn assert_every_option_has_a_variable(
    what: &str,
    help: &str,
    seen: &mut BTreeMap<String, BTreeMap<String, Vec<String>>>,
) -> usize {
    let options = long_options(help);
    let mut checked = 0;
    for (name, entry) in &options {
        if name == "help" || name == "version" {
            continue;
        }
        let variable = entry
            .split("[env: ")
            .nth(1)
            .and_then(|rest| rest.split(['=', ']']).next())
            .unwrap_or_else(|| panic!("{what}: --{name} shows no environment variable:\n{help}"));
        seen.entry(name.clone())
            .or_default()
            .entry(variable.to_owned())
            .or_default()
            .push(what.to_owned());
        checked += 1;
    }
    assert!(
        options.iter().any(|(n, _)| n == "help"),
        "{what}: no option found in the help:\n{help}"
    );
    checked
}

#[test]
fn every_binary_answers_help_with_a_variable_for_every_option_and_names_rust_log() {
    let mut seen = BTreeMap::new();
    for b in BINARIES {
        let out = run(b.path, &["--help"], &[]);
        let help = text(&out.stdout);
        assert!(
            out.status.success(),
            "{} --help: {}",
            b.name,
            text(&out.stderr)
        );
        assert!(!help.trim().is_empty(), "{} --help printed nothing", b.name);
        assert!(
            help.contains("RUST_LOG"),
            "{} --help does not name RUST_LOG:\n{help}",
            b.name
        );
        assert!(
            help.contains("Exit status") || help.contains("exit status"),
            "{} --help does not give the exit statuses:\n{help}",
            b.name
        );
        let mut checked = assert_every_option_has_a_variable(b.name, &help, &mut seen);
        for sub in b.subcommands {
            let out = run(b.path, &[sub, "--help"], &[]);
            let help = text(&out.stdout);
            assert!(out.status.success(), "{} {sub} --help", b.name);
            let what = format!("{} {sub}", b.name);
            checked += assert_every_option_has_a_variable(&what, &help, &mut seen);
            if *sub == "csv" {
                assert!(help.contains("--no-progress"), "{help}");
            }
        }
        if b.progress {
            assert!(help.contains("--no-progress"), "{}:\n{help}", b.name);
        }
        let first = help.lines().next().unwrap_or_default();
        println!(
            "{} --help: {first} ({checked} options with a variable)",
            b.name
        );
    }
    // The same option reads the same variable in every binary.
    for (option, variables) in &seen {
        assert_eq!(
            variables.len(),
            1,
            "--{option} reads several variables: {variables:?}"
        );
    }
    assert!(
        seen["gremlin-url"]["GREMLIN_URL"].len() >= 5,
        "{:?}",
        seen["gremlin-url"]
    );
}

#[test]
fn every_binary_answers_version_with_its_own_name() {
    for b in BINARIES {
        let out = run(b.path, &["--version"], &[]);
        assert!(out.status.success(), "{} --version", b.name);
        let version = text(&out.stdout);
        assert_eq!(
            version.trim(),
            format!("{} {}", b.name, env!("CARGO_PKG_VERSION")),
            "{} --version",
            b.name
        );
        println!("{}", version.trim());
    }
}

#[test]
fn a_wrong_argument_is_a_usage_error() {
    for b in BINARIES {
        let out = run(b.path, &["--no-such-flag"], &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", b.name);
        assert!(stderr.starts_with("error: "), "{}: {stderr}", b.name);
        assert!(!stderr.contains("panicked"), "{}: {stderr}", b.name);
    }
    let out = run(
        env!("CARGO_BIN_EXE_run-workload"),
        &["f.csv", "--stream", "s", "--driver-period", "soon"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // A list from its variable is counted like one on the command line.
    let out = run(
        env!("CARGO_BIN_EXE_run-workload"),
        &["f.csv", "--stream", "s"],
        &[("EDGE_COLUMNS", "1,2")],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Runs a binary that must fail, and gives its one error line after checking it and the
/// status.
fn error_line(name: &str, path: &str, args: &[&str], env: &[(&str, &str)], status: i32) -> String {
    let out = run(path, args, env);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(status),
        "{name} {args:?}: stdout {}\nstderr {stderr}",
        text(&out.stdout)
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{name}: one line expected:\n{stderr}");
    let prefix = format!("{name}: error: ");
    assert!(lines[0].starts_with(&prefix), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains(" { "),
        "not a human line: {stderr}"
    );
    println!("{name} exit {status}: {}", lines[0]);
    lines[0].to_owned()
}

#[test]
fn an_unknown_record_format_is_a_one_line_usage_error_and_help_lists_the_formats() {
    for (name, path, required) in [
        (
            "stream-to-graph",
            env!("CARGO_BIN_EXE_stream-to-graph"),
            &["--stream", "s"][..],
        ),
        (
            "kcl-record-processor",
            env!("CARGO_BIN_EXE_kcl-record-processor"),
            &[][..],
        ),
    ] {
        // Refused before any service is used: the Gremlin endpoint here would refuse.
        let unused = [("GREMLIN_URL", "ws://127.0.0.1:1/gremlin")];
        let args = [required, &["--format", "bogus"]].concat();
        let line = error_line(name, path, &args, &unused, 2);
        assert!(
            line.contains("\"bogus\"") && line.contains("use follows-csv or changes"),
            "{line}"
        );
        // The same from the variable.
        let env = [unused[0], ("RECORD_FORMAT", "json")];
        let line = error_line(name, path, required, &env, 2);
        assert!(line.contains("\"json\""), "{line}");

        let help = text(&run(path, &["--help"], &[]).stdout);
        let (_, entry) = long_options(&help)
            .into_iter()
            .find(|(option, _)| option == "format")
            .unwrap_or_else(|| panic!("{name} --help has no --format:\n{help}"));
        for expected in [
            "follows-csv",
            "one follows edge",
            "changes",
            "one JSON change",
            "RECORD_FORMAT",
            "[default: follows-csv]",
        ] {
            assert!(
                entry.contains(expected),
                "{name} --help: {expected:?} missing from --format:\n{entry}"
            );
        }
        assert!(help.contains("--placeholder-label"), "{help}");
    }
}

#[test]
fn a_refused_gremlin_endpoint_is_one_line_and_status_69() {
    let path = env!("CARGO_BIN_EXE_social-queries");
    let refused = "ws://127.0.0.1:1/gremlin";
    let line = error_line("social-queries", path, &["--gremlin-url", refused], &[], 69);
    assert!(
        line.contains("cannot connect to ws://127.0.0.1:1/gremlin"),
        "{line}"
    );
    // The same, from the variable.
    let line = error_line("social-queries", path, &[], &[("GREMLIN_URL", refused)], 69);
    assert!(line.contains(refused), "{line}");
}

#[test]
fn a_missing_input_file_is_a_data_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("persons.csv");
    let missing = missing.to_str().unwrap();
    let line = error_line(
        "load-vertices",
        env!("CARGO_BIN_EXE_load-vertices"),
        &["csv", missing, "--gremlin-url", "ws://127.0.0.1:1/gremlin"],
        &[],
        65,
    );
    assert!(line.contains(missing), "{line}");
    let line = error_line(
        "run-workload",
        env!("CARGO_BIN_EXE_run-workload"),
        &[
            missing,
            "--stream",
            "s",
            "--kinesis-endpoint",
            "http://127.0.0.1:1",
        ],
        &[],
        65,
    );
    assert!(line.contains(missing), "{line}");
}

#[test]
fn the_workload_driver_tells_a_dead_endpoint_from_an_unknown_stream_and_fills_a_known_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("follows.csv");
    std::fs::write(
        &file,
        "~id,~label,~from,~to,creationDate:Date\ne1,follows,1,2,2020-01-01\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let path = env!("CARGO_BIN_EXE_run-workload");
    let refused = "http://127.0.0.1:1";
    let line = error_line(
        "run-workload",
        path,
        &[file, "--stream", "s", "--kinesis-endpoint", refused],
        &[],
        69,
    );
    assert!(line.contains("cannot reach the Kinesis endpoint"), "{line}");
    let kinesis = local_services::EmbeddedKinesis::start(Default::default(), 0).unwrap();
    let line = error_line(
        "run-workload",
        path,
        &[file, "--stream", "no-such-stream", "--no-progress"],
        &[("KINESIS_ENDPOINT_URL", kinesis.url())],
        78,
    );
    assert!(line.contains("no-such-stream"), "{line}");
    // And a stream that is there takes the file: status 0, the summary on standard output.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = local_services::kinesis_client(Some(kinesis.url())).await;
        local_services::create_stream_and_wait(&client, "follows", 1, Duration::from_secs(30))
            .await
            .unwrap();
    });
    let out = run(
        path,
        &[file, "--stream", "follows"],
        &[("KINESIS_ENDPOINT_URL", kinesis.url())],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("put 1 of 1 records (0 failed"),
        "{stdout}"
    );
}

#[test]
fn other_failures_have_the_status_of_their_class() {
    // A port already taken: configuration.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    for (name, path, flag) in [
        (
            "local-kinesis",
            env!("CARGO_BIN_EXE_local-kinesis"),
            "--kinesis-port",
        ),
        (
            "local-dynamodb",
            env!("CARGO_BIN_EXE_local-dynamodb"),
            "--dynamodb-port",
        ),
    ] {
        let line = error_line(name, path, &[flag, &port], &[], 78);
        assert!(line.contains(&port), "{line}");
    }
    // A Kinesis endpoint that refuses: the probe says a service did not answer.
    let line = error_line(
        "kinesis-probe",
        env!("CARGO_BIN_EXE_kinesis-probe"),
        &["--kinesis-endpoint", "http://127.0.0.1:1"],
        &[],
        69,
    );
    assert!(line.contains("cannot reach the Kinesis endpoint"), "{line}");
    // No processor binary to give the daemons: configuration, before anything starts.
    let line = error_line(
        "kcl-fleet-bench",
        env!("CARGO_BIN_EXE_kcl-fleet-bench"),
        &["--processor", "/nonexistent/kcl-record-processor"],
        &[],
        78,
    );
    assert!(line.contains("/nonexistent/kcl-record-processor"), "{line}");
    // The Lambda function outside the Lambda Runtime API: configuration.
    let line = error_line(
        "kinesis-lambda",
        env!("CARGO_BIN_EXE_kinesis-lambda"),
        &[],
        &[],
        78,
    );
    assert!(line.contains("AWS_LAMBDA_RUNTIME_API is not set"), "{line}");
}
