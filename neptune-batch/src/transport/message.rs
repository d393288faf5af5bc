//! Request and response messages of the Gremlin Server WebSocket protocol, in GraphSON 3.0.

use super::error::{ErrorClass, GremlinError};
use crate::bytecode::Bytecode;
use crate::graphson::{GValue, Typed};
use serde::Serialize;
use serde_json::Value;

/// The MIME type that prefixes every request frame and selects the server's serializer.
pub(crate) const MIME: &str = "application/vnd.gremlin-v3.0+json";

/// What a request asks for.
#[derive(Debug, Clone)]
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
}

impl Request {
    /// The binary frame: one length byte, the MIME type, then the JSON message, written
    /// straight into the frame.
    pub(crate) fn frame(&self, request_id: &str) -> Vec<u8> {
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
        let mut frame = Vec::with_capacity(4096);
        frame.push(MIME.len() as u8);
        frame.extend_from_slice(MIME.as_bytes());
        // Serializing these types into a Vec cannot fail: every map key is a string.
        serde_json::to_writer(&mut frame, &msg).expect("a request always encodes");
        frame
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
    pub(crate) fn parse(bytes: &[u8]) -> Result<ResponseFrame, GremlinError> {
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
        let data = match v.pointer("/result/data").map(GValue::from_json) {
            Some(GValue::List(items)) | Some(GValue::Set(items)) => items,
            Some(GValue::Null) | None => Vec::new(),
            Some(one) => vec![one],
        };
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
        let frame = Request::Bytecode(b.clone()).frame("r1");
        assert_eq!(
            body(&frame),
            json!({
                "requestId": {"@type": "g:UUID", "@value": "r1"},
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
        .frame("r2");
        assert_eq!(
            body(&frame),
            json!({
                "requestId": {"@type": "g:UUID", "@value": "r2"},
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
    fn a_partial_frame_carries_its_items() {
        let body = json!({"requestId":"r1","status":{"code":206,"message":"","attributes":{}},"result":{"data":{"@type":"g:List","@value":["a","b"]}}});
        let f = ResponseFrame::parse(body.to_string().as_bytes()).unwrap();
        assert_eq!((f.status, f.data.len()), (206, 2));
        assert!(f.error.is_none());
    }
}
