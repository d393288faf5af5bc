//! Which metrics a crate records through the `metrics` facade, read from its source, so that a
//! test can check that every one of them is described (with a unit) by the crate's
//! `describe()`.
//!
//! Read from the source because the alternative, recording every metric at run time, would
//! need every error path of the crate to run in one test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The kind of a metric, as the macro that records it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// `counter!`.
    Counter,
    /// `gauge!`.
    Gauge,
    /// `histogram!`.
    Histogram,
}

/// One `counter!`/`gauge!`/`histogram!` call in a crate's source (test modules left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedMetric {
    /// What kind of metric.
    pub kind: MetricKind,
    /// Its name: a string literal, or the value of the `&str` constant the call names.
    pub name: String,
    /// Where the call is (`file:line`).
    pub at: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The part of a file before its `#[cfg(test)]` module.
fn code_of(text: &str) -> &str {
    match text.find("\n#[cfg(test)]") {
        Some(end) => &text[..end],
        None => text,
    }
}

/// Every facade metric recorded by the code under `src` (a crate's `src` folder). Panics on a
/// call whose name is neither a literal nor a `&str` constant defined under `src`.
pub fn recorded_metrics(src: &Path) -> Vec<RecordedMetric> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let texts: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).expect("read a source file");
            (f, text)
        })
        .collect();

    let mut constants = HashMap::new();
    for (_, text) in &texts {
        for line in text.lines() {
            let line = line.trim();
            let Some(rest) = line.strip_prefix("pub const ") else {
                continue;
            };
            if let Some((name, value)) = rest.split_once(": &str = \"") {
                if let Some(value) = value.strip_suffix("\";") {
                    constants.insert(name.trim().to_owned(), value.to_owned());
                }
            }
        }
    }

    let mut found = Vec::new();
    for (file, text) in &texts {
        for (n, line) in code_of(text).lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for (macro_name, kind) in [
                ("counter!(", MetricKind::Counter),
                ("gauge!(", MetricKind::Gauge),
                ("histogram!(", MetricKind::Histogram),
            ] {
                let mut from = 0;
                while let Some(i) = code[from..].find(macro_name) {
                    let start = from + i;
                    from = start + macro_name.len();
                    if code[..start].ends_with("describe_") {
                        continue;
                    }
                    let args = &code[from..];
                    let first = args.split([',', ')']).next().unwrap_or_default().trim();
                    let at = format!("{}:{}", file.display(), n + 1);
                    let name = if let Some(literal) = first.strip_prefix('"') {
                        literal.trim_end_matches('"').to_owned()
                    } else {
                        let ident = first.rsplit("::").next().unwrap_or(first);
                        constants.get(ident).cloned().unwrap_or_else(|| {
                            panic!(
                                "{at}: the metric name `{first}` is no &str constant of the crate"
                            )
                        })
                    };
                    found.push(RecordedMetric { kind, name, at });
                }
            }
        }
    }
    found
}

/// Checks that `describe` (a crate's `describe()` function) describes, with a unit and a text,
/// every metric the code under `src` records, and that it records at least `at_least` of them
/// (so that a scan that found nothing cannot pass). Panics naming each one that is not.
pub fn assert_all_described(src: &Path, at_least: usize, describe: impl Fn()) {
    use metrics_util::debugging::DebuggingRecorder;
    use metrics_util::MetricKind as Kind;

    let recorded = recorded_metrics(src);
    assert!(
        recorded.len() >= at_least,
        "found {} metric calls under {}, expected at least {at_least}: {recorded:?}",
        recorded.len(),
        src.display()
    );
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        describe();
        // Register each metric, so that the snapshot lists it with what was described.
        for m in &recorded {
            match m.kind {
                MetricKind::Counter => metrics::counter!(m.name.clone()).increment(0),
                MetricKind::Gauge => metrics::gauge!(m.name.clone()).set(0.0),
                MetricKind::Histogram => metrics::histogram!(m.name.clone()).record(0.0),
            }
        }
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let missing: Vec<String> = recorded
        .iter()
        .filter(|m| {
            let kind = match m.kind {
                MetricKind::Counter => Kind::Counter,
                MetricKind::Gauge => Kind::Gauge,
                MetricKind::Histogram => Kind::Histogram,
            };
            !snapshot.iter().any(|(key, unit, text, _)| {
                key.kind() == kind
                    && key.key().name() == m.name
                    && unit.is_some()
                    && text.as_ref().is_some_and(|t| !t.is_empty())
            })
        })
        .map(|m| format!("{:?} {} ({})", m.kind, m.name, m.at))
        .collect();
    assert!(
        missing.is_empty(),
        "recorded but not described with a unit by describe(): {missing:#?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_found_with_their_names_and_test_modules_and_descriptions_are_not() {
        let dir = std::env::temp_dir().join(format!("metric-names-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(
            dir.join("names.rs"),
            "/// Counter.\npub const SENT: &str = \"app.sent\";\npub const LAG: &str = \"Lag\";\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("sub/work.rs"),
            "fn f() {\n    metrics::counter!(names::SENT, \"k\" => \"v\").increment(1);\n    \
             ::metrics::gauge!(crate::names::LAG).set(1.0); metrics::histogram!(\"t\").record(2.0);\n    \
             describe_counter!(SENT, Unit::Count, \"sent\");\n    // counter!(NOT_CODE)\n}\n\
             #[cfg(test)]\nmod tests { fn g() { counter!(\"test_only\").increment(1); } }\n",
        )
        .unwrap();
        let found = recorded_metrics(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let got: Vec<_> = found.iter().map(|m| (m.kind, m.name.as_str())).collect();
        assert_eq!(
            got,
            [
                (MetricKind::Counter, "app.sent"),
                (MetricKind::Gauge, "Lag"),
                (MetricKind::Histogram, "t"),
            ]
        );
        assert!(found[0].at.ends_with("work.rs:2"), "{}", found[0].at);
    }
}
