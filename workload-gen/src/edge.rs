//! A follow request and its record payloads.

use std::sync::Arc;
use stream2neptune_common::{Classify, ErrorKind};

/// How a [`FollowsEdge`] is encoded in a stream record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PayloadFormat {
    /// `from,to,creationDate`, as the original system wrote it (a field that contains a comma,
    /// a quote or a line break is quoted, CSV style).
    #[default]
    Csv,
    /// `{"from":"…","to":"…","creationDate":"…"}`.
    Json,
}

/// A record payload that is not a follow request.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The payload is not UTF-8.
    #[error("payload is not UTF-8 (at byte {valid_up_to})")]
    NotUtf8 {
        /// Bytes before the first invalid one.
        valid_up_to: usize,
        /// The decoder's error.
        #[source]
        source: std::str::Utf8Error,
    },
    /// The payload does not have the expected shape.
    #[error("payload is malformed: {0}")]
    Malformed(String),
    /// The payload starts like JSON but is not a follows object.
    #[error("payload is malformed: not a follows JSON object: {0}")]
    NotJson(#[source] Arc<serde_json::Error>),
    /// The payload is quoted CSV that does not parse.
    #[error("payload is malformed: not CSV: {0}")]
    NotCsv(#[source] Arc<csv::Error>),
    /// A field is empty.
    #[error("field {0} is empty")]
    EmptyField(&'static str),
}

impl DecodeError {
    /// Always false: decoding the same bytes again cannot succeed (see [`Classify`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// Two errors are equal when they say the same thing: the same variant and message (the
/// parsers' errors compare by what they say).
impl PartialEq for DecodeError {
    fn eq(&self, other: &Self) -> bool {
        use DecodeError::*;
        match (self, other) {
            (NotUtf8 { source: a, .. }, NotUtf8 { source: b, .. }) => a == b,
            (Malformed(a), Malformed(b)) => a == b,
            (NotJson(a), NotJson(b)) => a.to_string() == b.to_string(),
            (NotCsv(a), NotCsv(b)) => a.to_string() == b.to_string(),
            (EmptyField(a), EmptyField(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for DecodeError {}

/// The payload is bad in itself: [`ErrorKind::Permanent`].
impl Classify for DecodeError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Permanent
    }
}

/// One `follows` edge request: person `from` follows person `to` since `creation_date`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct FollowsEdge {
    /// Id of the follower.
    pub from: String,
    /// Id of the person followed.
    pub to: String,
    /// When the follow happened, as text (passed through to the graph unchanged).
    #[serde(rename = "creationDate")]
    pub creation_date: String,
}

impl FollowsEdge {
    /// A follow request.
    pub fn new(
        from: impl Into<String>,
        to: impl Into<String>,
        creation_date: impl Into<String>,
    ) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            creation_date: creation_date.into(),
        }
    }

    /// The record payload in the given format.
    pub fn encode(&self, format: PayloadFormat) -> Vec<u8> {
        match format {
            PayloadFormat::Csv => {
                let mut out = Vec::with_capacity(
                    self.from.len() + self.to.len() + self.creation_date.len() + 2,
                );
                for (i, field) in [&self.from, &self.to, &self.creation_date]
                    .into_iter()
                    .enumerate()
                {
                    if i > 0 {
                        out.push(b',');
                    }
                    push_csv_field(&mut out, field);
                }
                out
            }
            PayloadFormat::Json => serde_json::to_vec(self).expect("strings always serialise"),
        }
    }

    /// Decodes a payload of either format (JSON if it starts with `{`).
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        let text = std::str::from_utf8(payload).map_err(|e| DecodeError::NotUtf8 {
            valid_up_to: e.valid_up_to(),
            source: e,
        })?;
        let trimmed = text.trim();
        let edge = if trimmed.starts_with('{') {
            serde_json::from_str::<FollowsEdge>(trimmed)
                .map_err(|e| DecodeError::NotJson(Arc::new(e)))?
        } else if !trimmed.contains(['"', '\n', '\r']) {
            // The common case (the original's payloads): no quoting, so a plain split is exact
            // and avoids building a CSV reader per record.
            let mut fields = trimmed.split(',');
            match (fields.next(), fields.next(), fields.next(), fields.next()) {
                (Some(from), Some(to), Some(date), None) => {
                    FollowsEdge::new(from.trim(), to.trim(), date.trim())
                }
                _ => {
                    return Err(DecodeError::Malformed(format!(
                        "expected 3 comma-separated fields (from,to,creationDate), found {}",
                        trimmed.split(',').count()
                    )))
                }
            }
        } else {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .trim(csv::Trim::All)
                .from_reader(trimmed.as_bytes());
            let mut record = csv::StringRecord::new();
            let read = reader
                .read_record(&mut record)
                .map_err(|e| DecodeError::NotCsv(Arc::new(e)))?;
            if !read || record.len() != 3 {
                return Err(DecodeError::Malformed(format!(
                    "expected 3 comma-separated fields (from,to,creationDate), found {}",
                    record.len()
                )));
            }
            if reader
                .read_record(&mut csv::StringRecord::new())
                .unwrap_or(true)
            {
                return Err(DecodeError::Malformed(
                    "more than one line in one payload".into(),
                ));
            }
            FollowsEdge::new(&record[0], &record[1], &record[2])
        };
        for (name, value) in [
            ("from", &edge.from),
            ("to", &edge.to),
            ("creationDate", &edge.creation_date),
        ] {
            if value.is_empty() {
                return Err(DecodeError::EmptyField(name));
            }
        }
        Ok(edge)
    }
}

/// Appends `field` to `out`, quoted (with quotes doubled) if it contains a delimiter, a quote or
/// a line break, or starts with `{`.
fn push_csv_field(out: &mut Vec<u8>, field: &str) {
    // A leading `{` would make the payload look like JSON.
    if field.starts_with('{')
        || field
            .bytes()
            .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        out.push(b'"');
        for b in field.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_round_trip() {
        let e = FollowsEdge::new("12", "34", "2019-01-02");
        for f in [PayloadFormat::Csv, PayloadFormat::Json] {
            assert_eq!(FollowsEdge::decode(&e.encode(f)).unwrap(), e);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_edge_round_trips_through_both_payload_formats(
            from in "[!-~é漢]([ -~é漢]{0,20}[!-~é漢])?",
            to in "[!-~é漢]([ -~é漢]{0,20}[!-~é漢])?",
            date in "[0-9T:,\"{-]{1,25}",
        ) {
            let e = FollowsEdge::new(from, to, date);
            for f in [PayloadFormat::Csv, PayloadFormat::Json] {
                proptest::prop_assert_eq!(FollowsEdge::decode(&e.encode(f)).unwrap(), e.clone());
            }
        }
    }

    #[test]
    fn csv_payloads_quote_fields_with_commas_and_quotes() {
        let e = FollowsEdge::new("a,b", "say \"hi\"", "2019-01-02");
        let payload = e.encode(PayloadFormat::Csv);
        assert_eq!(payload, b"\"a,b\",\"say \"\"hi\"\"\",2019-01-02".to_vec());
        assert_eq!(FollowsEdge::decode(&payload).unwrap(), e);
        // The original's plain triples still decode, quotes and spaces removed.
        assert_eq!(
            FollowsEdge::decode(b"\"1\",\"2\", d ").unwrap(),
            FollowsEdge::new("1", "2", "d")
        );
    }

    #[test]
    fn bad_payloads_say_what_is_wrong() {
        assert!(matches!(
            FollowsEdge::decode(b"\xff\xfe"),
            Err(DecodeError::NotUtf8 { .. })
        ));
        assert!(matches!(
            FollowsEdge::decode(b"1,2"),
            Err(DecodeError::Malformed(_))
        ));
        assert_eq!(
            FollowsEdge::decode(b"1,,d"),
            Err(DecodeError::EmptyField("to"))
        );
        assert!(matches!(
            FollowsEdge::decode(b"{\"from\":1}"),
            Err(DecodeError::NotJson(_))
        ));
    }
}
