//! What is written: vertices, edges and their property values.

/// A property value, in the types Neptune's Gremlin CSV format and GraphSON both carry.
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
