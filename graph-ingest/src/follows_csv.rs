//! The social network's `follows` records: `from,to,creationDate` (CSV, or the JSON object the
//! driver can also send) becoming one edge with the original's deterministic id.

use crate::mapper::{GraphWrites, RecordMapper, Rejection};
use kinesis_source::Record;
use neptune_batch::FollowsSchema;
use std::time::SystemTime;
use workload_gen::FollowsEdge;

/// Maps a `follows` record (the original's payload) to one edge of [`FollowsSchema`]: label
/// `follows`, id `<from>-<creationDate>-<to>` (see [`FollowsSchema::edge_id`]), properties
/// `creationDate` (as given) and `insertDateTime` (epoch milliseconds when mapped).
///
/// ```
/// use graph_ingest::{FollowsCsv, RecordMapper};
/// use kinesis_source::{Record, SequenceNumber};
///
/// let record = Record::new("shard-0", SequenceNumber::new("1"), "1", &b"1,2,2019-01-02"[..]);
/// let writes = FollowsCsv::default().map(&record).unwrap();
/// assert_eq!(writes.edges[0].id, "1-2019-01-02-2");
/// let bad = Record::new("shard-0", SequenceNumber::new("2"), "1", &b"1,2"[..]);
/// assert!(FollowsCsv::default().map(&bad).unwrap_err().reason().starts_with("undecodable"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct FollowsCsv {
    /// Labels and property names (the original's by default).
    pub schema: FollowsSchema,
}

impl FollowsCsv {
    /// Longest id or date accepted from a record. Longer fields are refused up front (a dead
    /// letter) rather than sent to the graph, where they would be stored or rejected per server.
    pub const MAX_FIELD_BYTES: usize = 512;

    /// A mapper writing edges of `schema`.
    pub fn new(schema: FollowsSchema) -> Self {
        Self { schema }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl RecordMapper for FollowsCsv {
    fn map(&self, record: &Record) -> Result<GraphWrites, Rejection> {
        let edge = FollowsEdge::decode(&record.data)
            .map_err(|e| Rejection::new(format!("undecodable: {e}")))?;
        for (name, value) in [
            ("from", &edge.from),
            ("to", &edge.to),
            ("creationDate", &edge.creation_date),
        ] {
            if value.len() > Self::MAX_FIELD_BYTES {
                return Err(Rejection::new(format!(
                    "undecodable: field {name} is {} bytes long (at most {})",
                    value.len(),
                    Self::MAX_FIELD_BYTES
                )));
            }
        }
        Ok(GraphWrites::edge(self.schema.edge(
            &edge.from,
            &edge.to,
            &edge.creation_date,
            now_ms(),
        )))
    }
}
