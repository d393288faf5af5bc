//! What is written: vertices, edges and their property values.

/// A property value, in the types Neptune's Gremlin CSV format and GraphSON both carry.
///
/// In JSON (dead letters, the change format) a value is the JSON scalar, a date is
/// `{"$date": <epoch milliseconds>}`, and a set is an array.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum PropertyValue {
    /// A string.
    String(String),
    /// A 64-bit integer (Gremlin `Long`).
    Long(i64),
    /// A 32-bit integer (Gremlin `Int`).
    Int(i32),
    /// A double.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// A point in time, in milliseconds since the Unix epoch: Neptune's `Date` (TinkerPop's
    /// `java.util.Date`, GraphBinary type `0x04`, GraphSON `g:Date`).
    Date(#[serde(with = "epoch_millis")] i64),
    /// Several values of one vertex property with set cardinality (`property(set, k, v)` for
    /// each). Neptune's vertex properties allow set cardinality (not list); edge properties
    /// are single, so an edge refuses a set. A set replaces the property's values as a whole.
    Set(Vec<PropertyValue>),
}

impl PropertyValue {
    /// The date `time`, to the millisecond (a time before 1970 counts back from it).
    pub fn date(time: std::time::SystemTime) -> Self {
        let millis = match time.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        };
        PropertyValue::Date(millis)
    }
}

/// A date in JSON: `{"$date": <epoch milliseconds>}`, so that it is not read back as a number.
mod epoch_millis {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Date {
        #[serde(rename = "$date")]
        millis: i64,
    }

    pub(super) fn serialize<S: Serializer>(millis: &i64, s: S) -> Result<S::Ok, S::Error> {
        Date { millis: *millis }.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        Date::deserialize(d).map(|date| date.millis)
    }
}

impl From<&str> for PropertyValue {
    fn from(v: &str) -> Self {
        PropertyValue::String(v.to_owned())
    }
}
impl From<String> for PropertyValue {
    fn from(v: String) -> Self {
        PropertyValue::String(v)
    }
}
impl From<i64> for PropertyValue {
    fn from(v: i64) -> Self {
        PropertyValue::Long(v)
    }
}
impl From<i32> for PropertyValue {
    fn from(v: i32) -> Self {
        PropertyValue::Int(v)
    }
}
impl From<f64> for PropertyValue {
    fn from(v: f64) -> Self {
        PropertyValue::Double(v)
    }
}
impl From<bool> for PropertyValue {
    fn from(v: bool) -> Self {
        PropertyValue::Bool(v)
    }
}

/// A vertex with a caller-chosen id.
#[derive(Debug, Clone, PartialEq)]
pub struct Vertex {
    /// The vertex id (Neptune `~id`, TinkerPop `T.id`).
    pub id: String,
    /// The vertex label.
    pub label: String,
    /// Single-valued properties.
    pub properties: Vec<(String, PropertyValue)>,
}

impl Vertex {
    /// A vertex without properties.
    pub fn new(id: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            label: label.into(),
            properties: Vec::new(),
        }
    }

    /// Adds a property.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<PropertyValue>) -> Self {
        self.properties.push((key.into(), value.into()));
        self
    }
}

/// A directed edge with a caller-chosen id between two existing vertices.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// The edge id. A deterministic id makes redelivered writes idempotent.
    pub id: String,
    /// The edge label, e.g. `follows`.
    pub label: String,
    /// Id of the out-vertex.
    pub from: String,
    /// Id of the in-vertex.
    pub to: String,
    /// Properties.
    pub properties: Vec<(String, PropertyValue)>,
}

impl Edge {
    /// An edge without properties.
    pub fn new(
        id: impl Into<String>,
        label: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            label: label.into(),
            from: from.into(),
            to: to.into(),
            properties: Vec::new(),
        }
    }

    /// Adds a property.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<PropertyValue>) -> Self {
        self.properties.push((key.into(), value.into()));
        self
    }
}
