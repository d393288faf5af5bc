//! The reader on documented rows, bad rows, headers, dates and gzip streams.

use super::row::parse_date;
use super::*;
use crate::model::PropertyValue;
use std::io::Write;

fn reader(text: &str) -> GremlinCsvReader {
    GremlinCsvReader::from_reader("test.csv", io::Cursor::new(text.as_bytes().to_vec()))
        .expect("header parses")
}

fn all_vertices(r: &mut GremlinCsvReader) -> Vec<CsvRow<Vertex>> {
    r.vertices()
        .collect::<Result<_, _>>()
        .expect("no read failure")
}

#[test]
fn typed_columns_become_typed_properties() {
    let mut r = reader(
        "~id,~label,name:String,age:Int,big:Long,score:Double,ratio:Float,ok:Bool,b:Byte,s:Short,born:Date,plain\n\
         1,person,Ann,42,9000000000,1.5,0.25,TRUE,-7,300,2019-01-15,x\n",
    );
    let rows = all_vertices(&mut r);
    let CsvRow::Parsed { line, element } = &rows[0] else {
        panic!("row refused: {rows:?}")
    };
    assert_eq!(*line, 2);
    assert_eq!(element.id, "1");
    assert_eq!(element.label, "person");
    assert_eq!(
        element.properties,
        vec![
            ("name".into(), PropertyValue::String("Ann".into())),
            ("age".into(), PropertyValue::Int(42)),
            ("big".into(), PropertyValue::Long(9_000_000_000)),
            ("score".into(), PropertyValue::Double(1.5)),
            ("ratio".into(), PropertyValue::Double(0.25)),
            ("ok".into(), PropertyValue::Bool(true)),
            ("b".into(), PropertyValue::Int(-7)),
            ("s".into(), PropertyValue::Int(300)),
            (
                "born".into(),
                PropertyValue::String("2019-01-15T00:00:00Z".into())
            ),
            ("plain".into(), PropertyValue::String("x".into())),
        ]
    );
}

#[test]
fn quoted_fields_keep_commas_quotes_and_newlines_and_lines_count_from_the_row_start() {
    let mut r = reader(
        "~id,~label,bio\n\
         1,person,\"likes a, b and \"\"c\"\"\nand more\"\n\
         2,person,short\n",
    );
    let rows = all_vertices(&mut r);
    assert_eq!(rows.len(), 2);
    let CsvRow::Parsed { element, line } = &rows[0] else {
        panic!()
    };
    assert_eq!(*line, 2);
    assert_eq!(
        element.properties[0].1,
        PropertyValue::String("likes a, b and \"c\"\nand more".into())
    );
    let CsvRow::Parsed { line, .. } = &rows[1] else {
        panic!()
    };
    assert_eq!(*line, 4, "the second row starts after the embedded newline");
}

#[test]
fn bad_rows_are_reported_with_file_line_and_reason_and_reading_goes_on() {
    let mut r = reader(
        "~id,~label,age:Int\n\
         1,person,41\n\
         2,person,forty\n\
         3,person\n\
         ,person,5\n\
         4,a;b,6\n\
         5,person,99999999999\n\
         6,person,7\n",
    );
    let rows = all_vertices(&mut r);
    let bad: Vec<&BadLine> = rows
        .iter()
        .filter_map(|r| match r {
            CsvRow::Bad(b) => Some(b),
            _ => None,
        })
        .collect();
    let good: Vec<&str> = rows
        .iter()
        .filter_map(|r| match r {
            CsvRow::Parsed { element, .. } => Some(element.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(good, vec!["1", "6"]);
    assert_eq!(
        bad.iter().map(|b| b.line).collect::<Vec<_>>(),
        vec![3, 4, 5, 6, 7]
    );
    assert!(bad.iter().all(|b| b.file == "test.csv"));
    assert!(bad[0].reason.contains("column 3 (age)"), "{}", bad[0]);
    assert!(bad[0].reason.contains("not a Int"), "{}", bad[0]);
    assert!(bad[1].reason.contains("2 fields where the header has 3"));
    assert_eq!(bad[1].fields, vec!["3", "person"]);
    assert!(bad[2].reason.contains("~id is empty"));
    assert!(bad[3].reason.contains("several labels"));
    assert!(bad[4].reason.contains("out of range"));
    assert_eq!(bad[0].to_string(), format!("test.csv:3: {}", bad[0].reason));
    assert_eq!(r.rows_read(), 7);
}

#[test]
fn invalid_utf8_is_a_bad_line_not_a_failure() {
    let mut bytes = b"~id,name\n1,ok\n2,".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(b"\n3,fine\n");
    let mut r = GremlinCsvReader::from_reader("bin.csv", io::Cursor::new(bytes)).unwrap();
    let rows = all_vertices(&mut r);
    assert_eq!(rows.len(), 3);
    let CsvRow::Bad(bad) = &rows[1] else {
        panic!("{rows:?}")
    };
    assert_eq!(bad.line, 3);
    assert!(bad.reason.contains("not valid UTF-8"));
}

#[test]
fn empty_fields_set_no_property_and_a_missing_label_defaults_to_vertex() {
    let mut r = reader("~id,name,age:Int\n1,,\n");
    let rows = all_vertices(&mut r);
    let CsvRow::Parsed { element, .. } = &rows[0] else {
        panic!()
    };
    assert_eq!(element.label, "vertex");
    assert!(element.properties.is_empty());
}

#[test]
fn a_multi_valued_column_yields_one_set_of_values() {
    let mut r = reader("~id,tags:String[](set),n:Int[]\n1,a;b\\;c;;d,1;2\n");
    assert_eq!(r.header().multi_valued_columns(), vec!["tags", "n"]);
    assert_eq!(r.header().properties[0].cardinality, Cardinality::Set);
    let rows = all_vertices(&mut r);
    let CsvRow::Parsed { element, .. } = &rows[0] else {
        panic!("{rows:?}")
    };
    assert_eq!(
        element.properties,
        vec![
            (
                "tags".into(),
                PropertyValue::Set(vec!["a".into(), "b;c".into(), "d".into()])
            ),
            (
                "n".into(),
                PropertyValue::Set(vec![PropertyValue::Int(1), PropertyValue::Int(2)])
            ),
        ]
    );
}

#[test]
fn an_escaped_colon_stays_in_the_property_name() {
    let header = CsvHeader::parse(["~id", "a\\:b:Long", "c\\:d"]).unwrap();
    assert_eq!(header.properties[0].name, "a:b");
    assert_eq!(header.properties[0].column_type, ColumnType::Long);
    assert_eq!(header.properties[1].name, "c:d");
    assert_eq!(header.properties[1].column_type, ColumnType::String);
}

#[test]
fn unusable_headers_are_refused_naming_the_column() {
    let cases: [(&[&str], &str); 7] = [
        (&["~label", "name"], "no ~id"),
        (&["~id", "~id"], "column 2: ~id appears twice"),
        (&["~id", "x:Decimal"], "unknown type"),
        (&["~id", "~weird"], "unknown system column"),
        (&["~id", "~from"], "no ~to"),
        (
            &["~id", "~from", "~to", "w:Int[]"],
            "cannot be multi-valued",
        ),
        (&["~id", "a", "a:Int"], "appears twice"),
    ];
    for (columns, expected) in cases {
        let err = CsvHeader::parse(columns.iter().copied()).unwrap_err();
        assert!(err.contains(expected), "{columns:?}: {err}");
    }
    let err =
        GremlinCsvReader::from_reader("h.csv", io::Cursor::new(b"name\n1\n".to_vec())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "h.csv:1: bad header: the header has no ~id column"
    );
    assert!(!err.is_retriable());
}

#[test]
fn dates_in_every_accepted_form_are_normalised_and_others_refused() {
    assert_eq!(parse_date("2019-01-15").unwrap(), "2019-01-15T00:00:00Z");
    assert_eq!(
        parse_date("2019-01-15T10:20").unwrap(),
        "2019-01-15T10:20:00Z"
    );
    assert_eq!(
        parse_date("2019-01-15T10:20:30").unwrap(),
        "2019-01-15T10:20:30Z"
    );
    assert_eq!(
        parse_date("2019-01-15T10:20:30Z").unwrap(),
        "2019-01-15T10:20:30Z"
    );
    assert_eq!(
        parse_date("2019-01-15T10:20:30+02:00").unwrap(),
        "2019-01-15T08:20:30Z"
    );
    assert!(parse_date("15/01/2019").is_err());
    assert!(parse_date("2019-02-30").is_err());
}

#[test]
fn a_gzip_stream_is_recognised_by_its_magic_bytes_not_its_name() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"~id,~label\n1,person\n2,person\n").unwrap();
    let bytes = gz.finish().unwrap();
    let mut r = GremlinCsvReader::from_reader("no-extension", io::Cursor::new(bytes)).unwrap();
    assert!(r.is_gzip());
    assert_eq!(all_vertices(&mut r).len(), 2);

    let mut plain = reader("~id\n1\n");
    assert!(!plain.is_gzip());
    assert_eq!(all_vertices(&mut plain).len(), 1);
}

#[test]
fn a_truncated_gzip_stream_stops_with_a_read_error_naming_the_file() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for i in 0..5000 {
        writeln!(gz, "{i},person,{}", "x".repeat(i % 50)).unwrap();
    }
    let mut bytes = b"".to_vec();
    let body = gz.finish().unwrap();
    // A valid header member followed by a cut-off member.
    let mut head = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    head.write_all(b"~id,~label,pad\n").unwrap();
    bytes.extend(head.finish().unwrap());
    bytes.extend_from_slice(&body[..body.len() / 2]);
    let mut r = GremlinCsvReader::from_reader("cut.csv.gz", io::Cursor::new(bytes)).unwrap();
    let result: Result<Vec<_>, _> = r.vertices().collect();
    let err = result.unwrap_err();
    assert!(matches!(err, CsvError::Read { .. }), "{err:?}");
    assert!(err.to_string().starts_with("cut.csv.gz:"), "{err}");
}

#[test]
fn edge_files_read_as_edges_and_not_as_vertices() {
    let mut r = reader(
        "~id,~from,~to,~label,creationDate\n\
         1-2,1,2,follows,2019-01-15\n\
         1-3,1,,follows,2019-01-16\n",
    );
    assert_eq!(r.header().kind, ElementKind::Edge);
    assert!(matches!(r.next_vertex(), Err(CsvError::WrongKind { .. })));
    let rows: Vec<_> = r.edges().collect::<Result<_, _>>().unwrap();
    let CsvRow::Parsed { element, .. } = &rows[0] else {
        panic!()
    };
    assert_eq!((element.from.as_str(), element.to.as_str()), ("1", "2"));
    assert_eq!(element.label, "follows");
    assert_eq!(
        element.properties,
        vec![("creationDate".into(), PropertyValue::from("2019-01-15"))]
    );
    let CsvRow::Bad(bad) = &rows[1] else { panic!() };
    assert!(bad.reason.contains("~to is empty"));
}
