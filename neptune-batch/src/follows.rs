//! The `follows` edges of the social network: their deterministic ids and properties.

use crate::error::ConfigError;
use crate::model::Edge;

/// Labels and property names of the social graph. The defaults are the original's; other
/// names come through [`FollowsSchema::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// A builder from the original's names; [`build`](FollowsSchemaBuilder::build) refuses an
    /// empty one.
    ///
    /// ```
    /// use neptune_batch::FollowsSchema;
    ///
    /// let schema = FollowsSchema::builder().edge_label("FOLLOWS").build()?;
    /// assert_eq!(schema.edge("1", "2", "2019-01-02", 0).label, "FOLLOWS");
    /// assert!(FollowsSchema::builder().vertex_label("").build().is_err());
    /// # Ok::<(), neptune_batch::ConfigError>(())
    /// ```
    pub fn builder() -> FollowsSchemaBuilder {
        FollowsSchemaBuilder {
            schema: Self::default(),
        }
    }

    /// Checks that every name is set; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, name) in [
            ("edge_label", &self.edge_label),
            ("vertex_label", &self.vertex_label),
            ("creation_date", &self.creation_date),
            ("insert_date_time", &self.insert_date_time),
        ] {
            if name.is_empty() {
                return Err(ConfigError::new(field, "must not be empty"));
            }
        }
        Ok(())
    }

    /// The deterministic edge id of a follow, so that a redelivered record maps to the same
    /// edge.
    ///
    /// When neither `from` nor `to` contains `-`, this is the original's
    /// `<from>-<creationDate>-<to>`: the `from` part is then everything before the first `-` and
    /// the `to` part everything after the last, so the id names one triple, and graphs written
    /// by the original keep their ids. Otherwise that form is ambiguous (`(q, p2,
    /// 1-2020-01-01)` and `(q-1, p2, 2020-01-01)` would share `q-1-2020-01-01-p2`), so the
    /// three parts are escaped (`%` as `%25`, `-` as `%2D`, `|` as `%7C`) and joined with `|`.
    /// An escaped id contains no `-` while an original-form id always contains at least two,
    /// so the two forms never meet, and within each form the parts can be read back: distinct
    /// triples never share an id.
    ///
    /// ```
    /// use neptune_batch::FollowsSchema;
    /// assert_eq!(FollowsSchema::edge_id("1", "2019-01-02", "2"), "1-2019-01-02-2");
    /// assert_eq!(
    ///     FollowsSchema::edge_id("q-1", "2020-01-01", "p2"),
    ///     "q%2D1|2020%2D01%2D01|p2"
    /// );
    /// ```
    pub fn edge_id(from: &str, creation_date: &str, to: &str) -> String {
        if !from.contains('-') && !to.contains('-') {
            return format!("{from}-{creation_date}-{to}");
        }
        let mut id = String::with_capacity(from.len() + creation_date.len() + to.len() + 8);
        for (n, part) in [from, creation_date, to].into_iter().enumerate() {
            if n > 0 {
                id.push('|');
            }
            for c in part.chars() {
                match c {
                    '%' => id.push_str("%25"),
                    '-' => id.push_str("%2D"),
                    '|' => id.push_str("%7C"),
                    c => id.push(c),
                }
            }
        }
        id
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

/// Builds a [`FollowsSchema`] from the original's names (see [`FollowsSchema::builder`]);
/// each setter documents its field.
#[derive(Debug, Clone)]
#[must_use]
pub struct FollowsSchemaBuilder {
    schema: FollowsSchema,
}

impl FollowsSchemaBuilder {
    /// [`FollowsSchema::edge_label`].
    pub fn edge_label(mut self, label: impl Into<String>) -> Self {
        self.schema.edge_label = label.into();
        self
    }

    /// [`FollowsSchema::vertex_label`].
    pub fn vertex_label(mut self, label: impl Into<String>) -> Self {
        self.schema.vertex_label = label.into();
        self
    }

    /// [`FollowsSchema::creation_date`].
    pub fn creation_date(mut self, property: impl Into<String>) -> Self {
        self.schema.creation_date = property.into();
        self
    }

    /// [`FollowsSchema::insert_date_time`].
    pub fn insert_date_time(mut self, property: impl Into<String>) -> Self {
        self.schema.insert_date_time = property.into();
        self
    }

    /// The schema, if every name is set.
    pub fn build(self) -> Result<FollowsSchema, ConfigError> {
        self.schema.validate()?;
        Ok(self.schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads an id back into its triple: the inverse that proves the encoding unambiguous.
    fn parse(id: &str) -> (String, String, String) {
        if id.contains('-') {
            let first = id.find('-').unwrap();
            let last = id.rfind('-').unwrap();
            assert!(first < last, "an original-form id has two separators: {id}");
            return (
                id[..first].to_owned(),
                id[first + 1..last].to_owned(),
                id[last + 1..].to_owned(),
            );
        }
        let unescape = |p: &str| {
            let mut out = String::new();
            let mut rest = p;
            while let Some(at) = rest.find('%') {
                out.push_str(&rest[..at]);
                out.push(match &rest[at..at + 3] {
                    "%25" => '%',
                    "%2D" => '-',
                    "%7C" => '|',
                    other => panic!("unknown escape {other} in {id}"),
                });
                rest = &rest[at + 3..];
            }
            out.push_str(rest);
            out
        };
        let parts: Vec<&str> = id.split('|').collect();
        assert_eq!(parts.len(), 3, "an escaped id has three parts: {id}");
        (unescape(parts[0]), unescape(parts[1]), unescape(parts[2]))
    }

    #[test]
    fn the_colliding_pair_gets_two_ids() {
        let a = FollowsSchema::edge_id("q", "1-2020-01-01T00:00:00Z", "p2");
        let b = FollowsSchema::edge_id("q-1", "2020-01-01T00:00:00Z", "p2");
        assert_ne!(a, b);
        assert_eq!(
            a, "q-1-2020-01-01T00:00:00Z-p2",
            "no dash in the ids: the original's form"
        );
    }

    #[test]
    fn the_original_form_is_kept_for_ids_without_the_separator() {
        assert_eq!(
            FollowsSchema::edge_id("33184", "2019-01-15T10:00:00Z", "17"),
            "33184-2019-01-15T10:00:00Z-17"
        );
    }

    /// Parts drawn from an alphabet rich in the characters that matter.
    fn part() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[-|%a2D5C7]{0,6}").unwrap()
    }

    proptest! {
        #[test]
        fn an_id_names_exactly_one_triple(from in part(), date in part(), to in part()) {
            let id = FollowsSchema::edge_id(&from, &date, &to);
            prop_assert_eq!(parse(&id), (from, date, to));
        }

        #[test]
        fn distinct_triples_never_share_an_id(
            a in (part(), part(), part()),
            b in (part(), part(), part()),
        ) {
            prop_assume!(a != b);
            prop_assert_ne!(
                FollowsSchema::edge_id(&a.0, &a.1, &a.2),
                FollowsSchema::edge_id(&b.0, &b.1, &b.2)
            );
        }
    }
}
