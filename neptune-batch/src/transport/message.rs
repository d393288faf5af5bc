//! Request and response messages of the Gremlin Server WebSocket protocol, in GraphBinary 1.0
//! or GraphSON 3.0.

use super::config::Serializer;
use super::error::{ErrorClass, GremlinError};
use crate::bytecode::Bytecode;
use crate::graphbinary as gb;
use crate::graphson::{GValue, Typed};
use serde::Serialize;
use serde_json::Value;

/// What a request asks for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Request {
    /// A bytecode traversal over the traversal source `g` (op `bytecode`).
    Bytecode(Bytecode),
    /// A script with its bound values (op `eval`). Only Gremlin Server evaluates Groovy scripts;
    /// Amazon Neptune accepts a Gremlin subset of them.
    Eval {
        /// The script text. Values never go in here: they go in `bindings`.
        script: String,
        /// Named values the script reads.
        bindings: Vec<(String, GValue)>,
    },
    /// A bytecode traversal in a Gremlin Server session (op `bytecode`, processor `session`,
    /// with `manageTransaction`). Gremlin Server (3.5 and later) binds a session to the
    /// connection of its first request and ends it when that connection closes; it runs the
    /// session's requests one after another, in the order they arrive, each in a transaction
    /// of its own, committed when it succeeds and rolled back when it fails. A client can so
    /// queue a request on the server behind the one running, which then starts without waiting
    /// for a round trip. Send a session's requests through a transport of one connection
    /// (`TransportConfig::pool_size` 1): a request of the session on another connection is
    /// refused. Amazon Neptune runs the bytecode of a session as one transaction until the
    /// client commits it (`g.tx()`), so this request is for Gremlin Server.
    Session {
        /// The traversal.
        traversal: Bytecode,
        /// The session's name, unique to the client (a UUID, for example). The transport
        /// sends it as `<session>-<n>`, `n` numbering the connection the request goes on: a
        /// server binds a session to the connection of its first request, so a new connection
        /// (a broken one replaced, or one past `max_connection_lifetime`) gets a new session
        /// instead of being refused.
        session: String,
    },
}

impl Request {
    /// The binary frame: one length byte, the MIME type that selects the server's serializer,
    /// then the message in that format, written straight into the frame.
    /// `connection` numbers the connection it goes on (see [`Request::Session`]).
    pub(crate) fn frame(
        &self,
        request_id: uuid::Uuid,
        serializer: Serializer,
        connection: u64,
    ) -> Vec<u8> {
        let mime = serializer.mime_type();
        let mut frame = Vec::with_capacity(4096);
        frame.push(mime.len() as u8);
        frame.extend_from_slice(mime.as_bytes());
        match serializer {
            Serializer::GraphBinaryV1 => self.write_graphbinary(request_id, connection, &mut frame),
            Serializer::GraphSonV3 => {
                self.write_graphson(&request_id.to_string(), connection, &mut frame)
            }
        }
        frame
    }

    /// `{version}{request_id}{op}{processor}{args}`: the args map holds the traversal (or the
    /// script, its bindings and language) and the alias of the traversal source.
    fn write_graphbinary(&self, request_id: uuid::Uuid, connection: u64, out: &mut Vec<u8>) {
        out.push(gb::VERSION);
        out.extend_from_slice(request_id.as_bytes());
        let aliases = |out: &mut Vec<u8>| {
            gb::write_string(out, "aliases");
            gb::write_value(out, &GValue::Map(vec![("g".into(), "g".into())]));
        };
        match self {
            Request::Bytecode(b) => {
                gb::write_bare_string(out, "bytecode");
                gb::write_bare_string(out, "traversal");
                gb::write_len(out, 2);
                gb::write_string(out, "gremlin");
                gb::write_bytecode(out, b);
                aliases(out);
            }
            Request::Session { traversal, session } => {
                gb::write_bare_string(out, "bytecode");
                gb::write_bare_string(out, "session");
                gb::write_len(out, 4);
                gb::write_string(out, "gremlin");
                gb::write_bytecode(out, traversal);
                gb::write_string(out, "session");
                gb::write_string(out, &format!("{session}-{connection}"));
                gb::write_string(out, "manageTransaction");
                gb::write_value(out, &GValue::Bool(true));
                aliases(out);
            }
            Request::Eval { script, bindings } => {
                gb::write_bare_string(out, "eval");
                gb::write_bare_string(out, "");
                gb::write_len(out, 4);
                gb::write_string(out, "gremlin");
                gb::write_string(out, script);
                gb::write_string(out, "bindings");
                out.extend_from_slice(&[0x0a, 0x00]);
                gb::write_len(out, bindings.len());
                for (k, v) in bindings {
                    gb::write_string(out, k);
                    gb::write_value(out, v);
                }
                gb::write_string(out, "language");
                gb::write_string(out, "gremlin-groovy");
                aliases(out);
            }
        }
    }

    fn write_graphson(&self, request_id: &str, connection: u64, frame: &mut Vec<u8>) {
        #[derive(Serialize)]
        struct Aliases {
            g: &'static str,
        }
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Args<'a> {
            Bytecode {
                gremlin: &'a Bytecode,
                aliases: Aliases,
            },
            #[serde(rename_all = "camelCase")]
            Session {
                gremlin: &'a Bytecode,
                session: String,
                manage_transaction: bool,
                aliases: Aliases,
            },
            Eval {
                gremlin: &'a str,
                bindings: Bindings<'a>,
                language: &'static str,
                aliases: Aliases,
            },
        }
        struct Bindings<'a>(&'a [(String, GValue)]);
        impl Serialize for Bindings<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0 {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Message<'a> {
            request_id: Typed<'a, str>,
            op: &'static str,
            processor: &'static str,
            args: Args<'a>,
        }
        let aliases = Aliases { g: "g" };
        let (op, processor, args) = match self {
            Request::Bytecode(b) => (
                "bytecode",
                "traversal",
                Args::Bytecode {
                    gremlin: b,
                    aliases,
                },
            ),
            Request::Session { traversal, session } => (
                "bytecode",
                "session",
                Args::Session {
                    gremlin: traversal,
                    session: format!("{session}-{connection}"),
                    manage_transaction: true,
                    aliases,
                },
            ),
            Request::Eval { script, bindings } => (
                "eval",
                "",
                Args::Eval {
                    gremlin: script,
                    bindings: Bindings(bindings),
                    language: "gremlin-groovy",
                    aliases,
                },
            ),
        };
        let msg = Message {
            request_id: Typed("g:UUID", request_id),
            op,
            processor,
            args,
        };
        // Serializing these types into a Vec cannot fail: every map key is a string.
        serde_json::to_writer(frame, &msg).expect("a request always encodes");
    }
}

/// One response frame, decoded.
#[derive(Debug)]
pub(crate) struct ResponseFrame {
    pub request_id: String,
    pub status: u16,
    /// The result items of this frame (a 206 frame carries a part).
    pub data: Vec<GValue>,
    /// Set when the status is an error.
    pub error: Option<GremlinError>,
}

impl ResponseFrame {
    /// Decodes an answer in either format: a GraphBinary message starts with its version
    /// byte (0x81), which no JSON text does.
    pub(crate) fn parse(bytes: &[u8]) -> Result<ResponseFrame, GremlinError> {
        if bytes.first() == Some(&gb::VERSION) {
            Self::parse_graphbinary(bytes)
        } else {
            Self::parse_graphson(bytes)
        }
    }

    /// `{version}{request_id}{status_code}{status_message}{status_attributes}{result_meta}
    /// {result_data}`; the request id and the message are nullable.
    fn parse_graphbinary(bytes: &[u8]) -> Result<ResponseFrame, GremlinError> {
        let bad = |e: String| GremlinError::Protocol(format!("GraphBinary answer: {e}"));
        let mut r = gb::Reader::new(bytes);
        r.byte().map_err(bad)?;
        let request_id = match r.byte().map_err(bad)? {
            0 => r.bare_uuid().map_err(bad)?,
            _ => return Err(bad("no request id".into())),
        };
        let status = r.int().map_err(bad)?;
        let status =
            u16::try_from(status).map_err(|_| bad(format!("status code {status} is not valid")))?;
        let message = match r.byte().map_err(bad)? {
            0 => r.bare_string().map_err(bad)?,
            _ => String::new(),
        };
        let attributes = GValue::Map(r.bare_map().map_err(bad)?);
        let _meta = r.bare_map().map_err(bad)?;
        let data = r.result_items().map_err(bad)?;
        let error = (status >= 300).then(|| classify(status, message, &attributes));
        Ok(ResponseFrame {
            request_id,
            status,
            data,
            error,
        })
    }

    fn parse_graphson(bytes: &[u8]) -> Result<ResponseFrame, GremlinError> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| GremlinError::Protocol(format!("response is not JSON: {e}")))?;
        let request_id = match v.get("requestId") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => GValue::from_json(other)
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| GremlinError::Protocol("requestId is not a string".into()))?,
            None => return Err(GremlinError::Protocol("response without requestId".into())),
        };
        let status = v
            .pointer("/status/code")
            .and_then(Value::as_u64)
            .ok_or_else(|| GremlinError::Protocol("response without status code".into()))?
            as u16;
        let data = v
            .pointer("/result/data")
            .map(crate::graphson::result_items)
            .unwrap_or_default();
        let error = (status >= 300).then(|| {
            let message = v
                .pointer("/status/message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let attributes = v
                .pointer("/status/attributes")
                .map(GValue::from_json)
                .unwrap_or(GValue::Null);
            classify(status, message, &attributes)
        });
        Ok(ResponseFrame {
            request_id,
            status,
            data,
            error,
        })
    }
}

/// The system index JanusGraph keeps the names of labels and property keys in.
const JANUSGRAPH_SCHEMA_NAME_INDEX: &str = "SystemIndex#~T$SchemaName";

/// Reads the class from, in order: Neptune's JSON message `code`, the exception names in
/// `status.attributes.exceptions`, then the status code.
fn classify(status: u16, message: String, attributes: &GValue) -> GremlinError {
    let neptune_code = serde_json::from_str::<Value>(&message)
        .ok()
        .and_then(|m| m.get("code").and_then(Value::as_str).map(str::to_owned));
    let exceptions: Vec<String> = match attributes.get("exceptions") {
        Some(GValue::List(items)) | Some(GValue::Set(items)) => items
            .iter()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let named = neptune_code
        .into_iter()
        .chain(exceptions)
        .find_map(|name| ErrorClass::from_exception(&name).map(|c| (c, name)));
    let (class, exception) = match named {
        Some((c, name)) => (c, Some(name)),
        // JanusGraph's automatic schema: two transactions that both make a new label or key
        // at once collide on its schema-name index, and the one refused finds the name made
        // when it is sent again. Its exception (`SchemaViolationException`) also names real
        // violations, so only this index says it is a conflict.
        None if message.contains(JANUSGRAPH_SCHEMA_NAME_INDEX) => {
            (ErrorClass::ConcurrentModification, None)
        }
        None => (ErrorClass::from_status(status), None),
    };
    GremlinError::Server {
        status,
        class,
        exception,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_label_made_by_two_janusgraph_transactions_at_once_is_a_conflict() {
        let raced = "Adding this property for key [~T$SchemaName] and value [rt\u{1e}follows] violates a uniqueness constraint [SystemIndex#~T$SchemaName]";
        let e = classify(500, raced.to_owned(), &GValue::Null);
        assert_eq!(e.class(), Some(ErrorClass::ConcurrentModification));
        let user = "Adding this property for key [email] and value [a] violates a uniqueness constraint [byEmail]";
        let e = classify(500, user.to_owned(), &GValue::Null);
        assert_ne!(e.class(), Some(ErrorClass::ConcurrentModification));
    }

    const MIME: &str = "application/vnd.gremlin-v3.0+json";
    const R1: &str = "00000000-0000-0000-0000-000000000001";
    const R2: &str = "00000000-0000-0000-0000-000000000002";

    fn uuid(s: &str) -> uuid::Uuid {
        uuid::Uuid::parse_str(s).unwrap()
    }

    fn body(frame: &[u8]) -> Value {
        assert_eq!(usize::from(frame[0]), MIME.len());
        assert_eq!(&frame[1..=MIME.len()], MIME.as_bytes());
        serde_json::from_slice(&frame[1 + MIME.len()..]).expect("the body is JSON")
    }

    #[test]
    fn a_bytecode_request_is_the_documented_message() {
        let b = Bytecode::new()
            .step("V", ["a\"b"])
            .step("limit", [GValue::Long(1)]);
        let frame = Request::Bytecode(b.clone()).frame(uuid(R1), Serializer::GraphSonV3, 1);
        assert_eq!(
            body(&frame),
            json!({
                "requestId": {"@type": "g:UUID", "@value": R1},
                "op": "bytecode",
                "processor": "traversal",
                "args": {"gremlin": b.to_json(), "aliases": {"g": "g"}},
            })
        );
    }

    #[test]
    fn an_eval_request_carries_its_bindings_as_typed_values() {
        let frame = Request::Eval {
            script: "x.size()".into(),
            bindings: vec![("x".into(), GValue::List(vec![GValue::Int(1)]))],
        }
        .frame(uuid(R2), Serializer::GraphSonV3, 1);
        assert_eq!(
            body(&frame),
            json!({
                "requestId": {"@type": "g:UUID", "@value": R2},
                "op": "eval",
                "processor": "",
                "args": {
                    "gremlin": "x.size()",
                    "bindings": {"x": {"@type": "g:List", "@value": [{"@type": "g:Int32", "@value": 1}]}},
                    "language": "gremlin-groovy",
                    "aliases": {"g": "g"},
                },
            })
        );
    }

    #[test]
    fn a_session_request_names_its_session_and_asks_for_managed_transactions() {
        let b = Bytecode::new().step("V", ["a"]);
        let frame = Request::Session {
            traversal: b.clone(),
            session: "s-1".into(),
        }
        .frame(uuid(R1), Serializer::GraphSonV3, 7);
        assert_eq!(
            body(&frame),
            json!({
                "requestId": {"@type": "g:UUID", "@value": R1},
                "op": "bytecode",
                "processor": "session",
                "args": {
                    "gremlin": b.to_json(),
                    "session": "s-1-7",
                    "manageTransaction": true,
                    "aliases": {"g": "g"},
                },
            })
        );
    }

    #[test]
    fn a_neptune_json_code_decides_the_class() {
        let body = json!({"requestId":"r1","status":{"code":500,"message":"{\"requestId\":\"r1\",\"code\":\"ConcurrentModificationException\",\"detailedMessage\":\"Failed to complete\"}","attributes":{}},"result":{"data":null}});
        let f = ResponseFrame::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            f.error.unwrap().class(),
            Some(ErrorClass::ConcurrentModification)
        );
    }

    #[test]
    fn the_exceptions_attribute_decides_the_class() {
        let body = json!({"requestId":"r1","status":{"code":500,"message":"x","attributes":{"@type":"g:Map","@value":["exceptions",{"@type":"g:List","@value":["org.apache.tinkerpop.gremlin.structure.util.TransactionException"]}]}},"result":{"data":null}});
        let f = ResponseFrame::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            f.error.unwrap().class(),
            Some(ErrorClass::ConcurrentModification)
        );
    }

    #[test]
    fn a_janusgraph_commit_failed_on_a_lock_is_a_conflict() {
        // JanusGraph wraps the lock's failure: the wrapper comes first in the list.
        let body = json!({"requestId":"r1","status":{"code":500,"message":"Could not commit transaction due to exception during persistence","attributes":{"@type":"g:Map","@value":["exceptions",{"@type":"g:List","@value":["org.janusgraph.core.JanusGraphException","org.janusgraph.diskstorage.locking.PermanentLockingException"]}]}},"result":{"data":null}});
        let f = ResponseFrame::parse(body.to_string().as_bytes()).unwrap();
        let error = f.error.unwrap();
        assert_eq!(error.class(), Some(ErrorClass::ConcurrentModification));
        assert!(error.is_retriable());
    }

    #[test]
    fn a_partial_frame_carries_its_items() {
        let body = json!({"requestId":"r1","status":{"code":206,"message":"","attributes":{}},"result":{"data":{"@type":"g:List","@value":["a","b"]}}});
        let f = ResponseFrame::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!((f.status, f.data.len()), (206, 2));
        assert!(f.error.is_none());
    }

    const BINARY_MIME: &[u8] = b"application/vnd.graphbinary-v1.0";

    /// A GraphBinary answer as Gremlin Server writes it.
    fn binary_answer(
        id: &str,
        status: i32,
        message: Option<&str>,
        exceptions: &[&str],
        data: &GValue,
    ) -> Vec<u8> {
        let mut out = vec![gb::VERSION, 0];
        out.extend_from_slice(uuid(id).as_bytes());
        out.extend_from_slice(&status.to_be_bytes());
        match message {
            Some(m) => {
                out.push(0);
                gb::write_bare_string(&mut out, m);
            }
            None => out.push(1),
        }
        let ex = GValue::List(exceptions.iter().map(|e| GValue::from(*e)).collect());
        let attributes = [("exceptions".into(), ex)];
        gb::write_map_body(&mut out, attributes.iter().map(|(k, v)| (k, v)), 1);
        gb::write_len(&mut out, 0);
        gb::write_value(&mut out, data);
        out
    }

    #[test]
    fn a_graphbinary_bytecode_request_is_the_documented_message() {
        let b = Bytecode::new().step("V", ["a"]);
        let frame = Request::Bytecode(b.clone()).frame(uuid(R1), Serializer::GraphBinaryV1, 1);
        assert_eq!(usize::from(frame[0]), BINARY_MIME.len());
        assert_eq!(&frame[1..=BINARY_MIME.len()], BINARY_MIME);
        let mut r = gb::Reader::new(&frame[1 + BINARY_MIME.len()..]);
        assert_eq!(r.byte().unwrap(), 0x81);
        assert_eq!(r.bare_uuid().unwrap(), R1);
        assert_eq!(r.bare_string().unwrap(), "bytecode");
        assert_eq!(r.bare_string().unwrap(), "traversal");
        let args = r.bare_map().unwrap();
        assert_eq!(r.remaining(), 0);
        assert_eq!(
            args,
            vec![
                ("gremlin".into(), GValue::Bytecode(b)),
                (
                    "aliases".into(),
                    GValue::Map(vec![("g".into(), "g".into())])
                ),
            ]
        );
    }

    #[test]
    fn a_graphbinary_eval_request_carries_its_bindings() {
        let frame = Request::Eval {
            script: "x.size()".into(),
            bindings: vec![("x".into(), GValue::List(vec![GValue::Int(1)]))],
        }
        .frame(uuid(R2), Serializer::GraphBinaryV1, 1);
        let mut r = gb::Reader::new(&frame[1 + BINARY_MIME.len()..]);
        r.byte().unwrap();
        assert_eq!(r.bare_uuid().unwrap(), R2);
        assert_eq!(r.bare_string().unwrap(), "eval");
        assert_eq!(r.bare_string().unwrap(), "");
        let args = GValue::Map(r.bare_map().unwrap());
        assert_eq!(args.get("gremlin"), Some(&"x.size()".into()));
        assert_eq!(args.get("language"), Some(&"gremlin-groovy".into()));
        assert_eq!(
            args.get("bindings").and_then(|b| b.get("x")),
            Some(&GValue::List(vec![GValue::Int(1)]))
        );
    }

    #[test]
    fn a_graphbinary_answer_yields_its_traversers_with_their_bulk() {
        // A list of two traversers: "a" once, "b" twice.
        let mut data = vec![0x09, 0, 0, 0, 0, 2];
        for (bulk, v) in [(1i64, "a"), (2, "b")] {
            data.extend_from_slice(&[0x21, 0]);
            data.extend_from_slice(&bulk.to_be_bytes());
            gb::write_value(&mut data, &v.into());
        }
        let mut bytes = binary_answer(R1, 200, Some(""), &[], &GValue::Null);
        bytes.truncate(bytes.len() - 2);
        bytes.extend_from_slice(&data);
        let f = ResponseFrame::parse(&bytes).unwrap();
        assert_eq!((f.request_id.as_str(), f.status), (R1, 200));
        assert_eq!(f.data, vec!["a".into(), "b".into(), "b".into()]);
        assert!(f.error.is_none());
    }

    #[test]
    fn a_graphbinary_error_is_classified_from_its_exceptions() {
        let bytes = binary_answer(
            R2,
            500,
            None,
            &["org.apache.tinkerpop.gremlin.structure.util.TransactionException"],
            &GValue::Null,
        );
        let f = ResponseFrame::parse(&bytes).unwrap();
        assert_eq!(f.request_id, R2);
        assert!(f.data.is_empty());
        assert_eq!(
            f.error.unwrap().class(),
            Some(ErrorClass::ConcurrentModification)
        );
    }

    #[test]
    fn a_truncated_graphbinary_answer_is_a_protocol_error() {
        let bytes = binary_answer(R1, 200, Some("ok"), &[], &GValue::List(vec!["x".into()]));
        for cut in 1..bytes.len() {
            assert!(matches!(
                ResponseFrame::parse(&bytes[..cut]),
                Err(GremlinError::Protocol(_))
            ));
        }
    }
}
