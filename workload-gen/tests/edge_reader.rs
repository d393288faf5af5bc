//! The edge file reader: real CSV, gzip or plain, configurable columns, bad lines reported.

use flate2::write::GzEncoder;
use std::io::Write;
use workload_gen::reader::{EdgeFileConfig, EdgeReader, ReadError};
use workload_gen::FollowsEdge;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

const FILE: &str = "\
~id,~label,~from,~to,creationDate
e1,follows,p1,p2,2019-01-01
\"e,2\",follows,\"p,3\",\"p \"\"4\"\"\", 2019-02-02 
e3,follows,p5,p6,2019-03-03
";

#[test]
fn quoted_fields_with_commas_and_quotes_are_parsed_from_plain_and_gzip_files() {
    for bytes in [FILE.as_bytes().to_vec(), gzip(FILE.as_bytes())] {
        let edges: Vec<FollowsEdge> = EdgeReader::from_reader(
            "follows.csv",
            std::io::Cursor::new(bytes),
            &Default::default(),
        )
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
        assert_eq!(
            edges,
            vec![
                FollowsEdge::new("p1", "p2", "2019-01-01"),
                FollowsEdge::new("p,3", "p \"4\"", "2019-02-02"),
                FollowsEdge::new("p5", "p6", "2019-03-03"),
            ]
        );
    }
}

#[test]
fn bad_lines_are_reported_with_file_and_line_and_counted_and_reading_goes_on() {
    let text = "\
~id,~label,~from,~to,creationDate
e1,follows,p1,p2,2019-01-01
e2,follows,p3
e3,follows,,p4,2019-01-03
e4,follows,p5,p6,2019-01-04
";
    let mut reader = EdgeReader::from_reader(
        "data/follows.csv",
        std::io::Cursor::new(text.as_bytes().to_vec()),
        &Default::default(),
    )
    .unwrap();
    let items: Vec<Result<FollowsEdge, ReadError>> = reader.by_ref().collect();
    assert_eq!(items.len(), 4);
    assert!(items[0].is_ok() && items[3].is_ok());
    let messages: Vec<String> = items
        .iter()
        .filter_map(|i| i.as_ref().err())
        .map(|e| {
            assert!(e.is_bad_line() && !e.is_retriable());
            e.to_string()
        })
        .collect();
    assert_eq!(
        messages,
        vec![
            "data/follows.csv:3: bad line: 3 fields, but to is in column 4",
            "data/follows.csv:4: bad line: column 3 (from) is empty",
        ]
    );
    let stats = reader.stats();
    assert_eq!((stats.lines, stats.edges, stats.bad_lines), (4, 2, 2));
}

#[test]
fn columns_are_configurable_and_a_file_without_header_is_read_from_its_first_line() {
    let text = "2019-05-05;p9;p8\n2019-06-06;p7;p6\n";
    let config = EdgeFileConfig::builder()
        .columns(3, 2, 1)
        .has_header(false)
        .delimiter(b';')
        .build()
        .unwrap();
    let edges: Vec<_> = EdgeReader::from_reader(
        "x.csv",
        std::io::Cursor::new(text.as_bytes().to_vec()),
        &config,
    )
    .unwrap()
    .map(|e| e.unwrap())
    .collect();
    assert_eq!(
        edges,
        vec![
            FollowsEdge::new("p8", "p9", "2019-05-05"),
            FollowsEdge::new("p6", "p7", "2019-06-06"),
        ]
    );
    let err = EdgeFileConfig::builder()
        .columns(0, 4, 5)
        .build()
        .unwrap_err();
    assert_eq!(err.field, "columns.from");
    assert!(err.to_string().contains("columns.from"), "{err}");
}

#[test]
fn a_truncated_gzip_file_ends_with_an_io_error_naming_the_file() {
    let mut body = String::from("~id,~label,~from,~to,creationDate\n");
    for i in 0..10_000 {
        body.push_str(&format!("e{i},follows,p{i},p{},2019-01-01\n", i + 1));
    }
    let gz = gzip(body.as_bytes());
    let cut = gz[..gz.len() / 2].to_vec();
    let items: Vec<_> =
        EdgeReader::from_reader("cut.csv.gz", std::io::Cursor::new(cut), &Default::default())
            .unwrap()
            .collect();
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert!(matches!(last, ReadError::Io { .. }), "{last}");
    assert!(last.to_string().starts_with("cut.csv.gz:"), "{last}");
    assert!(items[..items.len() - 1].iter().all(|i| i.is_ok()));
}

#[test]
fn a_missing_file_is_an_open_error_naming_it() {
    let err = EdgeReader::open("/nonexistent/follows.csv.gz", &Default::default()).unwrap_err();
    assert!(matches!(err, ReadError::Open { .. }));
    assert!(err.to_string().contains("/nonexistent/follows.csv.gz"));
}

mod written_files {
    use proptest::prelude::*;
    use workload_gen::dataset::EdgeFileWriter;
    use workload_gen::reader::EdgeReader;
    use workload_gen::FollowsEdge;

    fn field() -> impl Strategy<Value = String> {
        // Printable text with commas, quotes and non-ASCII letters; no surrounding whitespace
        // (the reader trims it) and never empty (an empty field is a bad line).
        "[!-~é漢]([ -~é漢]{0,15}[!-~é漢])?"
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        #[test]
        fn the_reader_returns_exactly_what_the_writer_wrote_quoted_fields_included(
            edges in proptest::collection::vec((field(), field(), field()), 0..50),
            gzip in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("follows.csv");
            let edges: Vec<FollowsEdge> =
                edges.into_iter().map(|(f, t, d)| FollowsEdge::new(f, t, d)).collect();
            let mut writer = EdgeFileWriter::create(&path, gzip).unwrap();
            for e in &edges {
                writer.write(e).unwrap();
            }
            prop_assert_eq!(writer.finish().unwrap(), edges.len() as u64);
            let read: Vec<FollowsEdge> = EdgeReader::open(&path, &Default::default())
                .unwrap()
                .map(|e| e.unwrap())
                .collect();
            prop_assert_eq!(read, edges);
        }
    }

    #[test]
    fn fields_with_commas_and_quotes_are_quoted_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("follows.csv");
        let mut writer = EdgeFileWriter::create(&path, false).unwrap();
        writer
            .write(&FollowsEdge::new("p,1", "say \"hi\"", "2019-01-01"))
            .unwrap();
        writer.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "~id,~label,~from,~to,creationDate\ne0,follows,\"p,1\",\"say \"\"hi\"\"\",2019-01-01\n"
        );
    }
}
