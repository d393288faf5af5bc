//! The `follows` edges of the social network: their deterministic ids and properties.

use crate::model::Edge;

/// Labels and property names of the social graph. The defaults are the original's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowsSchema {
    /// Edge label. Default `follows`.
    pub edge_label: String,
    /// Label of vertices created for missing endpoints. Default `person`.
    pub vertex_label: String,
    /// Property holding the record's creation date, passed through as text. Default
    /// `creationDate`.
    pub creation_date: String,
    /// Property holding when the record was written, epoch milliseconds. Default
    /// `insertDateTime`.
    pub insert_date_time: String,
}

impl Default for FollowsSchema {
    fn default() -> Self {
        Self {
            edge_label: "follows".into(),
            vertex_label: "person".into(),
            creation_date: "creationDate".into(),
            insert_date_time: "insertDateTime".into(),
        }
    }
}

impl FollowsSchema {
    /// The deterministic edge id `<from>-<creationDate>-<to>`, the original's, so that a
    /// redelivered record maps to the same edge.
    pub fn edge_id(from: &str, creation_date: &str, to: &str) -> String {
        format!("{from}-{creation_date}-{to}")
    }

    /// A `follows` edge with its deterministic id and both properties.
    ///
    /// ```
    /// use neptune_batch::{FollowsSchema, PropertyValue};
    /// let e = FollowsSchema::default().edge("1", "2", "2019-01-02", 1_546_387_200_000);
    /// assert_eq!(e.id, "1-2019-01-02-2");
    /// assert_eq!(e.properties[1].1, PropertyValue::Long(1_546_387_200_000));
    /// ```
    pub fn edge(
        &self,
        from: &str,
        to: &str,
        creation_date: &str,
        insert_date_time_ms: i64,
    ) -> Edge {
        Edge::new(
            Self::edge_id(from, creation_date, to),
            self.edge_label.clone(),
            from,
            to,
        )
        .with(self.creation_date.clone(), creation_date)
        .with(self.insert_date_time.clone(), insert_date_time_ms)
    }
}
