//! GraphBinary 1.0: the binary format in which Gremlin Server (TinkerPop 3.5+) and Amazon Neptune
//! take requests and give answers (MIME type `application/vnd.graphbinary-v1.0`).
//!
//! Written here by hand because no maintained crate serializes it: `gremlin-client`, the one
//! Rust Gremlin driver on crates.io, speaks only GraphSON, and the transport this crate uses
//! instead of it (see [`crate::transport`]) needs the encoding alone, into its own frames.
//! What is modelled is what the writer and its queries exchange: the same values as
//! [`GValue`] (scalars, lists, sets, maps with any key, the enums used as arguments,
//! predicates, nested bytecode, vertices and edges), plus the container types a server answers
//! with (traversers, bulk sets, paths, properties). A type this module cannot read is an error
//! naming its type code: a binary answer cannot be skipped without knowing its layout.
//!
//! Every value is written fully qualified, `{type_code}{value_flag}{value}`, big-endian, as the
//! specification ("GraphBinary", TinkerPop's IO reference) describes.

use crate::bytecode::{Bytecode, Instruction};
use crate::graphson::{Cardinality, Column, Direction, GValue, Merge, Order, T};
use serde_json::{json, Value};

/// The version byte that starts every request and response message.
pub(crate) const VERSION: u8 = 0x81;

mod code {
    pub const INT: u8 = 0x01;
    pub const LONG: u8 = 0x02;
    pub const STRING: u8 = 0x03;
    pub const DATE: u8 = 0x04;
    pub const TIMESTAMP: u8 = 0x05;
    pub const CLASS: u8 = 0x06;
    pub const DOUBLE: u8 = 0x07;
    pub const FLOAT: u8 = 0x08;
    pub const LIST: u8 = 0x09;
    pub const MAP: u8 = 0x0a;
    pub const SET: u8 = 0x0b;
    pub const UUID: u8 = 0x0c;
    pub const EDGE: u8 = 0x0d;
    pub const PATH: u8 = 0x0e;
    pub const PROPERTY: u8 = 0x0f;
    pub const VERTEX: u8 = 0x11;
    pub const VERTEX_PROPERTY: u8 = 0x12;
    pub const BARRIER: u8 = 0x13;
    pub const BINDING: u8 = 0x14;
    pub const BYTECODE: u8 = 0x15;
    pub const CARDINALITY: u8 = 0x16;
    pub const COLUMN: u8 = 0x17;
    pub const DIRECTION: u8 = 0x18;
    pub const OPERATOR: u8 = 0x19;
    pub const ORDER: u8 = 0x1a;
    pub const PICK: u8 = 0x1b;
    pub const POP: u8 = 0x1c;
    pub const P: u8 = 0x1e;
    pub const SCOPE: u8 = 0x1f;
    pub const T: u8 = 0x20;
    pub const TRAVERSER: u8 = 0x21;
    pub const BIG_DECIMAL: u8 = 0x22;
    pub const BIG_INTEGER: u8 = 0x23;
    pub const BYTE: u8 = 0x24;
    pub const BYTE_BUFFER: u8 = 0x25;
    pub const SHORT: u8 = 0x26;
    pub const BOOLEAN: u8 = 0x27;
    pub const TEXT_P: u8 = 0x28;
    pub const BULK_SET: u8 = 0x2a;
    pub const MERGE: u8 = 0x2e;
    pub const DT: u8 = 0x2f;
    pub const UNSPECIFIED_NULL: u8 = 0xfe;
}

const PRESENT: u8 = 0x00;
const NULL: u8 = 0x01;

/// Appends `value` fully qualified.
pub(crate) fn write_value(out: &mut Vec<u8>, value: &GValue) {
    match value {
        GValue::Null => out.extend_from_slice(&[code::UNSPECIFIED_NULL, NULL]),
        GValue::Bool(b) => out.extend_from_slice(&[code::BOOLEAN, PRESENT, u8::from(*b)]),
        GValue::Int(i) => {
            out.extend_from_slice(&[code::INT, PRESENT]);
            out.extend_from_slice(&i.to_be_bytes());
        }
        GValue::Long(l) => {
            out.extend_from_slice(&[code::LONG, PRESENT]);
            out.extend_from_slice(&l.to_be_bytes());
        }
        GValue::Double(d) => {
            out.extend_from_slice(&[code::DOUBLE, PRESENT]);
            out.extend_from_slice(&d.to_be_bytes());
        }
        GValue::String(s) => write_string(out, s),
        GValue::Date(millis) => {
            out.extend_from_slice(&[code::DATE, PRESENT]);
            out.extend_from_slice(&millis.to_be_bytes());
        }
        GValue::List(items) => write_items(out, code::LIST, items),
        GValue::Set(items) => write_items(out, code::SET, items),
        GValue::Map(entries) => {
            out.extend_from_slice(&[code::MAP, PRESENT]);
            write_map_body(out, entries.iter().map(|(k, v)| (k, v)), entries.len());
        }
        GValue::T(t) => write_enum(out, code::T, t.name()),
        GValue::Direction(d) => write_enum(out, code::DIRECTION, d.name()),
        GValue::Merge(m) => write_enum(out, code::MERGE, m.name()),
        GValue::Order(o) => write_enum(out, code::ORDER, o.name()),
        GValue::Column(c) => write_enum(out, code::COLUMN, c.name()),
        GValue::Cardinality(c) => write_enum(out, code::CARDINALITY, c.name()),
        GValue::P { predicate, value } => write_predicate(out, predicate, value),
        GValue::Bytecode(b) => write_bytecode(out, b),
        GValue::Vertex { id, label } => {
            out.extend_from_slice(&[code::VERTEX, PRESENT]);
            write_value(out, id);
            write_bare_string(out, label);
            write_value(out, &GValue::Null);
        }
        GValue::Edge {
            id,
            label,
            out_v,
            in_v,
        } => write_edge(out, id, label, out_v, in_v),
        // Only decoding produces `Other`; sent back, it goes as its GraphSON text.
        GValue::Other(v) => write_string(out, &v.to_string()),
    }
}

/// Appends a predicate fully qualified: its name, then its values.
fn write_predicate(out: &mut Vec<u8>, predicate: &str, value: &GValue) {
    out.extend_from_slice(&[code::P, PRESENT]);
    write_bare_string(out, predicate);
    // A collection argument (`within`, `without`) travels as the predicate's values.
    match value {
        GValue::List(items) | GValue::Set(items) => {
            write_len(out, items.len());
            for v in items {
                write_value(out, v);
            }
        }
        one => {
            write_len(out, 1);
            write_value(out, one);
        }
    }
}

/// Appends an edge fully qualified, without properties or parent.
fn write_edge(out: &mut Vec<u8>, id: &GValue, label: &str, out_v: &GValue, in_v: &GValue) {
    out.extend_from_slice(&[code::EDGE, PRESENT]);
    write_value(out, id);
    write_bare_string(out, label);
    write_value(out, in_v);
    write_bare_string(out, "");
    write_value(out, out_v);
    write_bare_string(out, "");
    write_value(out, &GValue::Null);
    write_value(out, &GValue::Null);
}

/// Appends a bytecode traversal fully qualified.
pub(crate) fn write_bytecode(out: &mut Vec<u8>, b: &Bytecode) {
    out.extend_from_slice(&[code::BYTECODE, PRESENT]);
    for list in [b.steps(), b.sources()] {
        write_len(out, list.len());
        for Instruction {
            operator,
            arguments,
        } in list
        {
            write_bare_string(out, operator);
            write_len(out, arguments.len());
            for a in arguments {
                write_value(out, a);
            }
        }
    }
}

/// A string, fully qualified.
pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&[code::STRING, PRESENT]);
    write_bare_string(out, s);
}

/// A string's value alone: `{length}{utf-8 bytes}`.
pub(crate) fn write_bare_string(out: &mut Vec<u8>, s: &str) {
    write_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// An `Int` length. Lengths above `i32::MAX` cannot be expressed; no request this crate
/// builds comes near (a request is limited by the server's content length, 64 MiB here).
pub(crate) fn write_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as i32).to_be_bytes());
}

/// A map's value alone: `{length}{key}{value}...`, keys and values fully qualified.
pub(crate) fn write_map_body<'a>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = (&'a GValue, &'a GValue)>,
    len: usize,
) {
    write_len(out, len);
    for (k, v) in entries {
        write_value(out, k);
        write_value(out, v);
    }
}

fn write_items(out: &mut Vec<u8>, type_code: u8, items: &[GValue]) {
    out.extend_from_slice(&[type_code, PRESENT]);
    write_len(out, items.len());
    for v in items {
        write_value(out, v);
    }
}

/// Enums are a fully qualified string holding the constant's name.
fn write_enum(out: &mut Vec<u8>, type_code: u8, name: &str) {
    out.extend_from_slice(&[type_code, PRESENT]);
    write_string(out, name);
}

/// Reads GraphBinary from a byte slice.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Why a GraphBinary message could not be read.
pub(crate) type ReadError = String;

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "GraphBinary message ends early: {n} bytes wanted at offset {}, {} left",
                self.pos,
                self.remaining()
            ));
        };
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn byte(&mut self) -> Result<u8, ReadError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub(crate) fn int(&mut self) -> Result<i32, ReadError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn long(&mut self) -> Result<i64, ReadError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// An `Int` length, checked against what is left (each item takes at least one byte), so a
    /// corrupt length fails cleanly instead of reserving gigabytes.
    fn len(&mut self) -> Result<usize, ReadError> {
        let n = self.int()?;
        let n = usize::try_from(n).map_err(|_| format!("negative length {n}"))?;
        if n > self.remaining() {
            return Err(format!(
                "length {n} exceeds the {} bytes left",
                self.remaining()
            ));
        }
        Ok(n)
    }

    /// A string's value alone.
    pub(crate) fn bare_string(&mut self) -> Result<String, ReadError> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("string is not UTF-8: {e}"))
    }

    /// A UUID's value alone (16 bytes), in its hyphenated text form.
    pub(crate) fn bare_uuid(&mut self) -> Result<String, ReadError> {
        Ok(uuid::Uuid::from_bytes(self.array()?).to_string())
    }

    /// A map's value alone.
    pub(crate) fn bare_map(&mut self) -> Result<Vec<(GValue, GValue)>, ReadError> {
        let n = self.len()?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.value()?;
            let v = self.value()?;
            entries.push((k, v));
        }
        Ok(entries)
    }

    fn items(&mut self) -> Result<Vec<GValue>, ReadError> {
        let n = self.len()?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.value()?);
        }
        Ok(items)
    }

    /// The result data of a response: the items of its list, each traverser counted as many
    /// times as its bulk says; a single value is one item, null none.
    pub(crate) fn result_items(&mut self) -> Result<Vec<GValue>, ReadError> {
        let type_code = self.byte()?;
        if !matches!(type_code, code::LIST | code::SET) {
            self.pos -= 1;
            return Ok(match self.value()? {
                GValue::Null => Vec::new(),
                GValue::List(items) if type_code == code::BULK_SET => items,
                one => vec![one],
            });
        }
        if self.byte()? & NULL != 0 {
            return Ok(Vec::new());
        }
        let n = self.len()?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            if self.bytes.get(self.pos) == Some(&code::TRAVERSER)
                && self.bytes.get(self.pos + 1) == Some(&PRESENT)
            {
                self.pos += 2;
                let bulk = self.long()?;
                let v = self.value()?;
                items.extend(std::iter::repeat_n(v, usize::try_from(bulk).unwrap_or(0)));
            } else {
                items.push(self.value()?);
            }
        }
        Ok(items)
    }

    /// The value of an enum: a fully qualified string.
    fn enum_name(&mut self) -> Result<String, ReadError> {
        match self.value()? {
            GValue::String(s) => Ok(s),
            other => Err(format!("an enum value that is not a string: {other:?}")),
        }
    }

    /// One fully qualified value.
    pub(crate) fn value(&mut self) -> Result<GValue, ReadError> {
        let type_code = self.byte()?;
        if type_code == 0x00 {
            return self.custom();
        }
        let flag = self.byte()?;
        if flag & NULL != 0 {
            return Ok(GValue::Null);
        }
        Ok(match type_code {
            code::INT => GValue::Int(self.int()?),
            code::LONG => GValue::Long(self.long()?),
            code::STRING | code::CLASS => GValue::String(self.bare_string()?),
            code::DOUBLE => GValue::Double(f64::from_be_bytes(self.array()?)),
            code::FLOAT => GValue::Double(f64::from(f32::from_be_bytes(self.array()?))),
            code::BYTE => GValue::Int(i32::from(self.byte()?)),
            code::SHORT => GValue::Int(i32::from(i16::from_be_bytes(self.array()?))),
            code::BOOLEAN => GValue::Bool(self.byte()? != 0),
            code::LIST => GValue::List(self.items()?),
            code::SET => GValue::Set(self.items()?),
            code::MAP => GValue::Map(self.bare_map()?),
            // As GraphSON's `g:UUID` is read: its text.
            code::UUID => GValue::String(self.bare_uuid()?),
            code::EDGE | code::PATH | code::PROPERTY | code::VERTEX | code::VERTEX_PROPERTY => {
                self.element(type_code)?
            }
            code::T
            | code::DIRECTION
            | code::MERGE
            | code::ORDER
            | code::COLUMN
            | code::BARRIER
            | code::CARDINALITY
            | code::OPERATOR
            | code::PICK
            | code::POP
            | code::SCOPE
            | code::DT => self.token(type_code)?,
            code::BINDING => {
                let key = self.bare_string()?;
                let value = self.value()?;
                GValue::Map(vec![(key.into(), value)])
            }
            code::BYTECODE => GValue::Bytecode(self.bytecode()?),
            code::P | code::TEXT_P => {
                let predicate = self.bare_string()?;
                let mut values = self.items()?;
                let value = if values.len() == 1 {
                    values.remove(0)
                } else {
                    GValue::List(values)
                };
                GValue::P {
                    predicate,
                    value: Box::new(value),
                }
            }
            // A traverser carries a value and how many times it occurs (bulk).
            code::TRAVERSER => {
                let bulk = self.long()?;
                let inner = self.value()?;
                expand(inner, bulk)
            }
            code::BULK_SET => {
                let n = self.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    let v = self.value()?;
                    let bulk = self.long()?;
                    items.extend(std::iter::repeat_n(v, usize::try_from(bulk).unwrap_or(0)));
                }
                GValue::List(items)
            }
            _ => self.kept_as_received(type_code)?,
        })
    }

    /// An element or a part of one, after its type code and flag: vertices and edges as such,
    /// paths, properties and vertex properties as maps of their parts.
    fn element(&mut self, type_code: u8) -> Result<GValue, ReadError> {
        Ok(match type_code {
            code::EDGE => {
                let id = self.value()?;
                let label = self.bare_string()?;
                let in_v = self.value()?;
                let _in_label = self.bare_string()?;
                let out_v = self.value()?;
                let _out_label = self.bare_string()?;
                let _parent = self.value()?;
                let _properties = self.value()?;
                GValue::Edge {
                    id: Box::new(id),
                    label,
                    out_v: Box::new(out_v),
                    in_v: Box::new(in_v),
                }
            }
            code::PATH => {
                let labels = self.value()?;
                let objects = self.value()?;
                GValue::Map(vec![("labels".into(), labels), ("objects".into(), objects)])
            }
            code::PROPERTY => {
                let key = self.bare_string()?;
                let value = self.value()?;
                let _parent = self.value()?;
                GValue::Map(vec![("key".into(), key.into()), ("value".into(), value)])
            }
            code::VERTEX => {
                let id = self.value()?;
                let label = self.bare_string()?;
                let _properties = self.value()?;
                GValue::Vertex {
                    id: Box::new(id),
                    label,
                }
            }
            _ => {
                let id = self.value()?;
                let label = self.bare_string()?;
                let value = self.value()?;
                let _parent = self.value()?;
                let _properties = self.value()?;
                GValue::Map(vec![
                    ("id".into(), id),
                    ("label".into(), label.into()),
                    ("value".into(), value),
                ])
            }
        })
    }

    /// An enum constant, after its type code and flag: the tokens this crate models as such,
    /// any other constant (or one it does not know) as its name.
    fn token(&mut self, type_code: u8) -> Result<GValue, ReadError> {
        let name = self.enum_name()?;
        let known = match type_code {
            code::T => T::from_name(&name).map(GValue::T),
            code::DIRECTION => Direction::from_name(&name).map(GValue::Direction),
            code::MERGE => Merge::from_name(&name).map(GValue::Merge),
            code::ORDER => Order::from_name(&name).map(GValue::Order),
            code::COLUMN => Column::from_name(&name).map(GValue::Column),
            code::CARDINALITY => Cardinality::from_name(&name).map(GValue::Cardinality),
            _ => None,
        };
        Ok(known.unwrap_or(GValue::String(name)))
    }

    /// A value with no counterpart in [`GValue`], after its type code and flag, kept as
    /// GraphSON would carry it.
    fn kept_as_received(&mut self, type_code: u8) -> Result<GValue, ReadError> {
        let typed = |t: &str, v: Value| GValue::Other(json!({"@type": t, "@value": v}));
        Ok(match type_code {
            code::DATE => GValue::Date(self.long()?),
            code::TIMESTAMP => typed("g:Timestamp", self.long()?.into()),
            code::BIG_INTEGER => typed("gx:BigInteger", big_integer(self)?),
            code::BIG_DECIMAL => {
                let scale = self.int()?;
                typed(
                    "gx:BigDecimal",
                    json!({"scale": scale, "unscaled": big_integer(self)?}),
                )
            }
            code::BYTE_BUFFER => {
                let n = self.len()?;
                typed("gx:ByteBuffer", Value::from(self.take(n)?.to_vec()))
            }
            other => return Err(format!("GraphBinary type 0x{other:02x} is not supported")),
        })
    }

    /// A custom type (code 0x00): its name, type information and blob, kept as received.
    fn custom(&mut self) -> Result<GValue, ReadError> {
        let name = self.bare_string()?;
        let info_len = self.len()?;
        let _info = self.take(info_len)?;
        let flag = self.byte()?;
        if flag & NULL != 0 {
            return Ok(GValue::Null);
        }
        let n = self.len()?;
        let blob = self.take(n)?.to_vec();
        Ok(GValue::Other(json!({"@type": name, "@value": blob})))
    }

    fn bytecode(&mut self) -> Result<Bytecode, ReadError> {
        let mut b = Bytecode::new();
        for source in [false, true] {
            let n = self.len()?;
            for _ in 0..n {
                let operator = self.bare_string()?;
                let arguments = self.items()?;
                if source {
                    b = b.source(&operator, arguments);
                } else {
                    b.push(&operator, arguments);
                }
            }
        }
        Ok(b)
    }
}

/// A value with a bulk above one becomes that many copies, as GraphSON's traversers are read.
fn expand(inner: GValue, bulk: i64) -> GValue {
    if bulk == 1 {
        inner
    } else {
        GValue::List(std::iter::repeat_n(inner, usize::try_from(bulk).unwrap_or(0)).collect())
    }
}

/// A `BigInteger`'s two's complement bytes, as a decimal number when it fits an `i128`.
fn big_integer(r: &mut Reader<'_>) -> Result<Value, ReadError> {
    let n = r.len()?;
    let bytes = r.take(n)?;
    if n == 0 || n > 16 {
        return Ok(Value::from(bytes.to_vec()));
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut full = [fill; 16];
    full[16 - n..].copy_from_slice(bytes);
    Ok(Value::String(i128::from_be_bytes(full).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytecode::anon;

    fn round_trip(v: &GValue) -> GValue {
        let mut out = Vec::new();
        write_value(&mut out, v);
        let mut r = Reader::new(&out);
        let back = r.value().expect("reads back");
        assert_eq!(r.remaining(), 0, "every byte read");
        back
    }

    #[test]
    fn scalars_are_the_documented_bytes() {
        let bytes = |v: GValue| {
            let mut out = Vec::new();
            write_value(&mut out, &v);
            out
        };
        assert_eq!(bytes(GValue::Int(256)), [0x01, 0, 0, 0, 1, 0]);
        assert_eq!(bytes(GValue::Long(1)), [0x02, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(bytes("abc".into()), [0x03, 0, 0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(bytes(GValue::Null), [0xfe, 0x01]);
        assert_eq!(bytes(GValue::Bool(true)), [0x27, 0, 1]);
        assert_eq!(
            bytes(GValue::T(T::Id)),
            [0x20, 0, 0x03, 0, 0, 0, 0, 2, b'i', b'd']
        );
    }

    #[test]
    fn every_value_the_writer_sends_round_trips() {
        let values = [
            GValue::Null,
            GValue::Bool(false),
            GValue::Int(-2),
            GValue::Long(i64::MIN),
            GValue::Double(0.1),
            "".into(),
            "a'); g.V().drop(); ('\u{e9}\u{1F600}\n\"\\".into(),
            GValue::List(vec![GValue::Int(1), GValue::Null, "x".into()]),
            GValue::Set(vec![GValue::Long(3)]),
            GValue::Map(vec![
                (GValue::T(T::Id), "a-1".into()),
                (GValue::T(T::Label), "follows".into()),
                (GValue::Direction(Direction::Out), "a".into()),
                (GValue::Direction(Direction::In), "b".into()),
                ("n".into(), GValue::Long(7)),
            ]),
            GValue::Merge(Merge::OnCreate),
            GValue::Merge(Merge::OnMatch),
            GValue::Order(Order::Desc),
            GValue::Column(Column::Values),
            GValue::p("lt", GValue::Int(100)),
            GValue::p("without", GValue::List(vec!["x".into(), "y".into()])),
            GValue::Vertex {
                id: Box::new("v1".into()),
                label: "person".into(),
            },
            GValue::Edge {
                id: Box::new("e1".into()),
                label: "follows".into(),
                out_v: Box::new("a".into()),
                in_v: Box::new("b".into()),
            },
            GValue::Bytecode(
                Bytecode::new()
                    .source("withSideEffect", ["k"])
                    .step("inject", [GValue::List(vec![GValue::Int(1)])])
                    .then("unfold")
                    .step("mergeE", [anon("select", ["m"])])
                    .step(
                        "option",
                        [GValue::Merge(Merge::OnCreate), anon("select", ["c"]).into()],
                    ),
            ),
        ];
        for v in values {
            assert_eq!(round_trip(&v), v, "{v:?}");
        }
    }

    #[test]
    fn traversers_and_bulk_sets_expand_their_bulk() {
        // A traverser of "x" with bulk 2, then a bulk set {"y": 3}.
        let mut bytes = vec![0x21, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        write_value(&mut bytes, &"x".into());
        assert_eq!(
            Reader::new(&bytes).value().unwrap(),
            GValue::List(vec!["x".into(), "x".into()])
        );
        let mut bytes = vec![0x2a, 0, 0, 0, 0, 1];
        write_value(&mut bytes, &"y".into());
        bytes.extend_from_slice(&3i64.to_be_bytes());
        assert_eq!(
            Reader::new(&bytes).value().unwrap(),
            GValue::List(vec!["y".into(), "y".into(), "y".into()])
        );
    }

    #[test]
    fn a_truncated_or_unknown_value_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        write_value(&mut bytes, &GValue::List(vec!["abc".into(); 3]));
        for cut in 0..bytes.len() {
            assert!(Reader::new(&bytes[..cut]).value().is_err(), "cut at {cut}");
        }
        let e = Reader::new(&[0x7f, 0]).value().unwrap_err();
        assert!(e.contains("0x7f"), "{e}");
        // A length larger than the message is refused before anything is allocated.
        let e = Reader::new(&[0x09, 0, 0x7f, 0xff, 0xff, 0xff])
            .value()
            .unwrap_err();
        assert!(e.contains("exceeds"), "{e}");
    }
}
