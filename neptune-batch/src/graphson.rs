//! GraphSON 3.0: the typed JSON in which Gremlin Server and Amazon Neptune take requests and
//! give answers.
//!
//! Only what a batched writer and its queries exchange is modelled: scalars, lists, sets, maps
//! (with any key, e.g. `T.id` or `Direction.OUT`), the enums used as arguments, predicates,
//! nested bytecode, and the vertices and edges a server returns. Anything else a server sends
//! is kept as [`GValue::Other`] rather than rejected, so an unexpected answer never panics.

use crate::bytecode::Bytecode;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::{json, Value};

/// `T`: the tokens for an element's id and label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum T {
    /// The element id (`T.id`, Neptune's `~id`).
    Id,
    /// The element label (`T.label`).
    Label,
    /// A property's key (`T.key`).
    Key,
}

/// `Direction`; `Direction.from` and `Direction.to` are `OUT` and `IN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Direction {
    /// The out-vertex of an edge (`from`).
    Out,
    /// The in-vertex of an edge (`to`).
    In,
}

/// `Merge`: the options of `mergeV()` and `mergeE()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Merge {
    /// Applied when the element is created.
    OnCreate,
    /// Applied when the element already exists.
    OnMatch,
}

/// `Order` for `order().by(...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Order {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// `Column`: the keys or values of a map entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Column {
    /// Map keys.
    Keys,
    /// Map values.
    Values,
}

/// `Cardinality`: how many values a vertex property keeps (`property(set, k, v)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cardinality {
    /// One value: a new one replaces it.
    Single,
    /// Distinct values: a new one is added.
    Set,
}

/// The name each token has in Gremlin, in both formats.
macro_rules! token_names {
    ($($token:ident { $($variant:ident => $name:literal),+ })+) => {$(
        impl $token {
            /// The constant's name in Gremlin, as both formats write it.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $($token::$variant => $name),+
                }
            }

            /// The constant named `name`, if it is one this crate models.
            pub(crate) fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some($token::$variant),)+
                    _ => None,
                }
            }
        }
    )+};
}

token_names! {
    T { Id => "id", Label => "label", Key => "key" }
    Direction { Out => "OUT", In => "IN" }
    Merge { OnCreate => "onCreate", OnMatch => "onMatch" }
    Order { Asc => "asc", Desc => "desc" }
    Column { Keys => "keys", Values => "values" }
    Cardinality { Single => "single", Set => "set" }
}

/// A GraphSON 3.0 value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GValue {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// `g:Int32`.
    Int(i32),
    /// `g:Int64`.
    Long(i64),
    /// `g:Double`.
    Double(f64),
    /// A string.
    String(String),
    /// `g:Date`: milliseconds since the Unix epoch.
    Date(i64),
    /// `g:List`.
    List(Vec<GValue>),
    /// `g:Set`.
    Set(Vec<GValue>),
    /// `g:Map`, in the order received.
    Map(Vec<(GValue, GValue)>),
    /// `g:T`.
    T(T),
    /// `g:Direction`.
    Direction(Direction),
    /// `g:Merge`.
    Merge(Merge),
    /// `g:Order`.
    Order(Order),
    /// `g:Column`.
    Column(Column),
    /// `g:Cardinality`.
    Cardinality(Cardinality),
    /// `g:P`: a predicate such as `lt(100)` or `without('following')`.
    P {
        /// The predicate's name (`lt`, `neq`, `without`...).
        predicate: String,
        /// Its argument.
        value: Box<GValue>,
    },
    /// `g:Bytecode`: an anonymous traversal used as an argument.
    Bytecode(Bytecode),
    /// `g:Vertex`.
    Vertex {
        /// The vertex id.
        id: Box<GValue>,
        /// The vertex label.
        label: String,
    },
    /// `g:Edge`.
    Edge {
        /// The edge id.
        id: Box<GValue>,
        /// The edge label.
        label: String,
        /// The out-vertex id.
        out_v: Box<GValue>,
        /// The in-vertex id.
        in_v: Box<GValue>,
    },
    /// Any other typed value, as received.
    Other(Value),
}

impl GValue {
    /// A predicate value.
    pub fn p(predicate: &str, value: impl Into<GValue>) -> GValue {
        GValue::P {
            predicate: predicate.to_owned(),
            value: Box::new(value.into()),
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer inside, if this is an `Int32` or `Int64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            GValue::Int(i) => Some(i64::from(*i)),
            GValue::Long(l) => Some(*l),
            _ => None,
        }
    }

    /// The value under a string key, if this is a map.
    pub fn get(&self, key: &str) -> Option<&GValue> {
        match self {
            GValue::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The id, as text, of a string id, an integer id, a vertex or an edge.
    pub fn id_text(&self) -> Option<String> {
        match self {
            GValue::String(s) => Some(s.clone()),
            GValue::Int(_) | GValue::Long(_) => self.as_i64().map(|i| i.to_string()),
            GValue::Vertex { id, .. } | GValue::Edge { id, .. } => id.id_text(),
            _ => None,
        }
    }

    /// Encodes as GraphSON 3.0 (the [`Serialize`](serde::Serialize) form as a JSON tree).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Decodes GraphSON 3.0 (also accepts untyped JSON numbers, lists and objects).
    pub fn from_json(value: &Value) -> GValue {
        match value {
            Value::Null => GValue::Null,
            Value::Bool(b) => GValue::Bool(*b),
            Value::String(s) => GValue::String(s.clone()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => GValue::Long(i),
                None => GValue::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::Array(items) => GValue::List(items.iter().map(GValue::from_json).collect()),
            Value::Object(obj) => {
                let (Some(Value::String(t)), Some(v)) = (obj.get("@type"), obj.get("@value"))
                else {
                    return GValue::Map(
                        obj.iter()
                            .map(|(k, v)| (GValue::String(k.clone()), GValue::from_json(v)))
                            .collect(),
                    );
                };
                decode_typed(t, v).unwrap_or_else(|| GValue::Other(value.clone()))
            }
        }
    }
}

/// The result data of a response: the items of its list, each traverser counted as many times
/// as its bulk says (a server may answer three equal values as one traverser of bulk 3); a
/// single value is one item, null none.
pub(crate) fn result_items(data: &Value) -> Vec<GValue> {
    let items = match (
        data.get("@type").and_then(Value::as_str),
        data.get("@value"),
    ) {
        (Some("g:List" | "g:Set"), Some(Value::Array(items))) => items,
        _ => {
            return match GValue::from_json(data) {
                GValue::Null => Vec::new(),
                GValue::List(items) | GValue::Set(items) => items,
                one => vec![one],
            }
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match (
            item.get("@type").and_then(Value::as_str),
            item.get("@value"),
        ) {
            (Some("g:Traverser"), Some(t)) => {
                let bulk = t.get("bulk").map(GValue::from_json);
                let bulk = bulk.as_ref().and_then(GValue::as_i64).unwrap_or(1);
                let value = t
                    .get("value")
                    .map(GValue::from_json)
                    .unwrap_or(GValue::Null);
                out.extend(std::iter::repeat_n(
                    value,
                    usize::try_from(bulk).unwrap_or(0),
                ));
            }
            _ => out.push(GValue::from_json(item)),
        }
    }
    out
}

/// `{"@type": t, "@value": v}`: how GraphSON 3.0 writes every typed value.
pub(crate) struct Typed<'a, V: ?Sized>(pub(crate) &'a str, pub(crate) &'a V);

impl<V: Serialize + ?Sized> Serialize for Typed<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("@type", self.0)?;
        m.serialize_entry("@value", self.1)?;
        m.end()
    }
}

/// A map's entries flattened into `[k1, v1, k2, v2, ...]`, as `g:Map` wants them.
struct FlatEntries<'a>(&'a [(GValue, GValue)]);

impl Serialize for FlatEntries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len() * 2))?;
        for (k, v) in self.0 {
            seq.serialize_element(k)?;
            seq.serialize_element(v)?;
        }
        seq.end()
    }
}

/// GraphSON 3.0, written straight to the output: a batch of a few thousand rows is encoded
/// without building a JSON tree first (which cost more client CPU than the rest of a write).
impl Serialize for GValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            GValue::Null => s.serialize_unit(),
            GValue::Bool(b) => s.serialize_bool(*b),
            GValue::Int(i) => Typed("g:Int32", i).serialize(s),
            GValue::Long(l) => Typed("g:Int64", l).serialize(s),
            GValue::Double(d) => Typed("g:Double", d).serialize(s),
            GValue::String(v) => s.serialize_str(v),
            GValue::Date(millis) => Typed("g:Date", millis).serialize(s),
            GValue::List(items) => Typed("g:List", items).serialize(s),
            GValue::Set(items) => Typed("g:Set", items).serialize(s),
            GValue::Map(entries) => Typed("g:Map", &FlatEntries(entries)).serialize(s),
            GValue::T(t) => Typed("g:T", t.name()).serialize(s),
            GValue::Direction(d) => Typed("g:Direction", d.name()).serialize(s),
            GValue::Merge(m) => Typed("g:Merge", m.name()).serialize(s),
            GValue::Order(o) => Typed("g:Order", o.name()).serialize(s),
            GValue::Column(c) => Typed("g:Column", c.name()).serialize(s),
            GValue::Cardinality(c) => Typed("g:Cardinality", c.name()).serialize(s),
            GValue::P { predicate, value } => {
                Typed("g:P", &json!({"predicate": predicate, "value": value})).serialize(s)
            }
            GValue::Bytecode(b) => b.serialize(s),
            GValue::Vertex { id, label } => {
                Typed("g:Vertex", &json!({"id": id, "label": label})).serialize(s)
            }
            GValue::Edge {
                id,
                label,
                out_v,
                in_v,
            } => Typed(
                "g:Edge",
                &json!({"id": id, "label": label, "outV": out_v, "inV": in_v}),
            )
            .serialize(s),
            GValue::Other(v) => v.serialize(s),
        }
    }
}

fn decode_typed(t: &str, v: &Value) -> Option<GValue> {
    let list = |v: &Value| -> Option<Vec<GValue>> {
        Some(v.as_array()?.iter().map(GValue::from_json).collect())
    };
    Some(match t {
        "g:Int32" => GValue::Int(i32::try_from(v.as_i64()?).ok()?),
        "g:Int64" => GValue::Long(v.as_i64()?),
        "g:Double" | "g:Float" => GValue::Double(v.as_f64()?),
        "g:Date" => GValue::Date(v.as_i64()?),
        "g:List" => GValue::List(list(v)?),
        "g:Set" => GValue::Set(list(v)?),
        "g:Map" => {
            let flat = list(v)?;
            let mut entries = Vec::with_capacity(flat.len() / 2);
            let mut it = flat.into_iter();
            while let (Some(k), Some(val)) = (it.next(), it.next()) {
                entries.push((k, val));
            }
            GValue::Map(entries)
        }
        "g:T" => GValue::T(T::from_name(v.as_str()?)?),
        "g:Direction" => GValue::Direction(Direction::from_name(v.as_str()?)?),
        "g:Cardinality" => GValue::Cardinality(Cardinality::from_name(v.as_str()?)?),
        "g:Vertex" => GValue::Vertex {
            id: Box::new(GValue::from_json(v.get("id")?)),
            label: v.get("label")?.as_str()?.to_owned(),
        },
        "g:Edge" => GValue::Edge {
            id: Box::new(GValue::from_json(v.get("id")?)),
            label: v.get("label")?.as_str()?.to_owned(),
            out_v: Box::new(GValue::from_json(v.get("outV")?)),
            in_v: Box::new(GValue::from_json(v.get("inV")?)),
        },
        "g:UUID" => GValue::String(v.as_str()?.to_owned()),
        // A traverser carries a value and how many times it occurs (bulk).
        "g:Traverser" => {
            let bulk = GValue::from_json(v.get("bulk")?).as_i64().unwrap_or(1);
            let inner = GValue::from_json(v.get("value")?);
            if bulk == 1 {
                inner
            } else {
                GValue::List(std::iter::repeat_n(inner, bulk.max(0) as usize).collect())
            }
        }
        _ => return None,
    })
}

macro_rules! from_impl {
    ($t:ty, $var:ident) => {
        impl From<$t> for GValue {
            fn from(v: $t) -> Self {
                GValue::$var(v.into())
            }
        }
    };
}
from_impl!(bool, Bool);
from_impl!(i32, Int);
from_impl!(i64, Long);
from_impl!(f64, Double);
from_impl!(String, String);
from_impl!(&str, String);
from_impl!(T, T);
from_impl!(Direction, Direction);
from_impl!(Merge, Merge);
from_impl!(Order, Order);
from_impl!(Column, Column);
from_impl!(Cardinality, Cardinality);
from_impl!(Bytecode, Bytecode);

impl From<&String> for GValue {
    fn from(v: &String) -> Self {
        GValue::String(v.clone())
    }
}

impl<V: Into<GValue>> From<Vec<V>> for GValue {
    fn from(v: Vec<V>) -> Self {
        GValue::List(v.into_iter().map(Into::into).collect())
    }
}

impl From<&crate::model::PropertyValue> for GValue {
    fn from(v: &crate::model::PropertyValue) -> Self {
        use crate::model::PropertyValue as P;
        match v {
            P::String(s) => GValue::String(s.clone()),
            P::Long(l) => GValue::Long(*l),
            P::Int(i) => GValue::Int(*i),
            P::Double(d) => GValue::Double(*d),
            P::Bool(b) => GValue::Bool(*b),
            P::Date(millis) => GValue::Date(*millis),
            P::Set(values) => GValue::Set(values.iter().map(GValue::from).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_keyed_by_tokens_round_trips() {
        let m = GValue::Map(vec![
            (GValue::T(T::Id), "a-1".into()),
            (GValue::Direction(Direction::Out), "a".into()),
            ("n".into(), GValue::Long(7)),
            ("s".into(), GValue::Set(vec![GValue::Int(1), GValue::Null])),
        ]);
        assert_eq!(GValue::from_json(&m.to_json()), m);
    }

    #[test]
    fn a_traverser_with_bulk_expands() {
        let v = json!({"@type":"g:Traverser","@value":{"bulk":{"@type":"g:Int64","@value":2},"value":"x"}});
        assert_eq!(
            GValue::from_json(&v),
            GValue::List(vec!["x".into(), "x".into()])
        );
    }

    #[test]
    fn result_data_counts_each_traverser_by_its_bulk() {
        let data = json!({"@type":"g:List","@value":[
            {"@type":"g:Traverser","@value":{"bulk":{"@type":"g:Int64","@value":1},"value":"a"}},
            {"@type":"g:Traverser","@value":{"bulk":{"@type":"g:Int64","@value":2},"value":"b"}},
            "c"
        ]});
        assert_eq!(
            result_items(&data),
            vec!["a".into(), "b".into(), "b".into(), "c".into()]
        );
        assert!(result_items(&Value::Null).is_empty());
    }

    #[test]
    fn an_unknown_type_is_kept_not_rejected() {
        let v = json!({"@type":"g:Weird","@value":[1]});
        assert_eq!(GValue::from_json(&v), GValue::Other(v));
    }
}
