//! The vertex loader writing through the Gremlin sink into the real Gremlin Server.

use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::load::{load_vertices, VertexLoadOptions};
use neptune_batch::transport::{GremlinTransport, TransportConfig};
use neptune_batch::{GremlinSink, GremlinSinkConfig};

async fn gremlin_url() -> String {
    local_services::gremlin()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .url
}

async fn count_vertices(t: &GremlinTransport, ids: &[String]) -> i64 {
    let found = t
        .submit(&Bytecode::new().step("V", ids.to_vec()).then("count"))
        .await
        .expect("count query");
    found[0].as_i64().expect("a count")
}

async fn value(t: &GremlinTransport, id: &str, key: &str) -> GValue {
    let found = t
        .submit(&Bytecode::new().step("V", [id]).step("values", [key]))
        .await
        .expect("values query");
    assert_eq!(found.len(), 1, "{id}.{key}: {found:?}");
    found.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_csv_file_lands_in_the_gremlin_server_once_with_typed_values_intact() {
    let url = gremlin_url().await;
    let prefix = local_services::unique_name("load");
    let tricky = "it's \"quoted\", with a comma,\na newline, a \\ backslash, '); g.V().drop(); (' and ünïcødé";
    let mut csv =
        String::from("~id,~label,firstName,bio,age:Int,followers:Long,score:Double,active:Bool\n");
    let mut ids = Vec::new();
    for i in 0..250 {
        let id = format!("{prefix}-{i}");
        let bio = if i == 7 {
            tricky.replace('"', "\"\"")
        } else {
            format!("bio {i}")
        };
        csv.push_str(&format!(
            "{id},person,Name{i},\"{bio}\",{i},{},{}.5,{}\n",
            10_000_000_000i64 + i,
            i,
            i % 2 == 0
        ));
        ids.push(id);
    }
    csv.push_str(&format!("{prefix}-bad,person,x,y,not-an-int,1,1.0,true\n"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vertices.csv");
    std::fs::write(&path, csv).unwrap();

    let sink = GremlinSink::connect(GremlinSinkConfig::new(url.clone()))
        .await
        .expect("connect the sink");
    let mut batches_seen = 0;
    let summary = load_vertices(&path, &sink, &VertexLoadOptions::default(), |_| {
        batches_seen += 1
    })
    .await
    .unwrap();
    assert_eq!(summary.rows_read, 251);
    assert_eq!(summary.written, 250, "{:?}", summary.failed);
    assert_eq!(summary.bad_lines.len(), 1);
    assert_eq!(
        summary.bad_lines[0].line, 253,
        "the tricky row spans two lines"
    );
    assert_eq!(summary.batches, 3);
    assert_eq!(batches_seen, 3);

    let t = GremlinTransport::connect(TransportConfig::new(url))
        .await
        .expect("connect a transport");
    assert_eq!(count_vertices(&t, &ids).await, 250);
    assert_eq!(value(&t, &ids[7], "bio").await, GValue::from(tricky));
    assert_eq!(value(&t, &ids[7], "age").await, GValue::Int(7));
    assert_eq!(
        value(&t, &ids[7], "followers").await,
        GValue::Long(10_000_000_007)
    );
    assert_eq!(value(&t, &ids[7], "score").await, GValue::Double(7.5));
    assert_eq!(value(&t, &ids[8], "active").await, GValue::Bool(true));

    let again = load_vertices(&path, &sink, &VertexLoadOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!((again.written, again.already_present), (0, 250));
    assert_eq!(count_vertices(&t, &ids).await, 250);
}
