//! Request and response messages of the Gremlin Server WebSocket protocol, in GraphSON 3.0.

use super::error::{ErrorClass, GremlinError};
use crate::bytecode::Bytecode;
use crate::graphson::GValue;
use serde_json::{json, Value};

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
    /// The binary frame: one length byte, the MIME type, then the JSON message.
    pub(crate) fn frame(&self, request_id: &str) -> Vec<u8> {
        let args = match self {
            Request::Bytecode(b) => json!({"gremlin": b.to_json(), "aliases": {"g": "g"}}),
            Request::Eval { script, bindings } => {
                let b: serde_json::Map<String, Value> = bindings
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect();
                json!({"gremlin": script, "bindings": b, "language": "gremlin-groovy", "aliases": {"g": "g"}})
            }
        };
        let (op, processor) = match self {
            Request::Bytecode(_) => ("bytecode", "traversal"),
            Request::Eval { .. } => ("eval", ""),
        };
        let msg = json!({
            "requestId": {"@type": "g:UUID", "@value": request_id},
            "op": op,
            "processor": processor,
            "args": args,
        });
        let body = serde_json::to_vec(&msg).unwrap_or_default();
        let mut frame = Vec::with_capacity(1 + MIME.len() + body.len());
        frame.push(MIME.len() as u8);
        frame.extend_from_slice(MIME.as_bytes());
        frame.extend_from_slice(&body);
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
