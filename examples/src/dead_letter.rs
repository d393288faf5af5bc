//! Where records that cannot be decoded or written go, so a shard never stops for one record.

use async_trait::async_trait;
use base64::Engine;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;

/// One record set aside, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// The shard it was read from.
    pub shard_id: String,
    /// Its sequence number there.
    pub sequence_number: String,
    /// For a user record of a KPL aggregate, its index in the aggregate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_sequence_number: Option<u64>,
    /// Its partition key.
    pub partition_key: String,
    /// Why it was set aside.
    pub reason: String,
    /// The record's bytes as read, base64-encoded (they may not be UTF-8).
    pub data_base64: String,
    /// When it was set aside (milliseconds since the Unix epoch).
    pub at_epoch_ms: u128,
}

impl DeadLetter {
    /// A dead letter for `data` read from `shard_id` at `sequence_number`.
    pub fn new(
        shard_id: &str,
        sequence_number: &str,
        partition_key: &str,
        reason: impl Into<String>,
        data: &[u8],
    ) -> Self {
        Self {
            shard_id: shard_id.to_owned(),
            sequence_number: sequence_number.to_owned(),
            sub_sequence_number: None,
            partition_key: partition_key.to_owned(),
            reason: reason.into(),
            data_base64: base64::engine::general_purpose::STANDARD.encode(data),
            at_epoch_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0),
        }
    }

    /// A dead letter for a record read from a stream, user records of aggregates included.
    pub fn of_record(record: &kinesis_source::Record, reason: impl Into<String>) -> Self {
        Self {
            sub_sequence_number: record.sub_sequence_number,
            ..Self::new(
                &record.shard_id,
                record.sequence_number.as_str(),
                &record.partition_key,
                reason,
                &record.data,
            )
        }
    }

    /// The original bytes.
    pub fn data(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.data_base64)
            .unwrap_or_default()
    }
}

/// A dead letter could not be stored: the record must then not be acknowledged.
#[derive(Debug, thiserror::Error)]
#[error("cannot store a dead letter in {target}: {message}")]
pub struct DeadLetterError {
    /// Where it was to go.
    pub target: String,
    /// What failed.
    pub message: String,
}

impl DeadLetterError {
    /// Storage errors (a full disk, a permission) may clear up.
    pub fn is_retriable(&self) -> bool {
        true
    }
}

/// Somewhere dead letters are kept durably before their records are acknowledged.
#[async_trait]
pub trait DeadLetterSink: Send + Sync {
    /// Stores dead letters; only after `Ok` may their records be acknowledged.
    async fn put(&self, letters: &[DeadLetter]) -> Result<(), DeadLetterError>;
}

/// Dead letters appended to a JSON-lines file, one object per line, flushed to disk before
/// `put` returns.
#[derive(Debug)]
pub struct JsonLinesDeadLetters {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl JsonLinesDeadLetters {
    /// A sink appending to `path` (created with its directory if missing).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every dead letter back from a file written by this sink.
    pub fn read_all(path: &Path) -> std::io::Result<Vec<serde_json::Value>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
            .collect()
    }
}

#[async_trait]
impl DeadLetterSink for JsonLinesDeadLetters {
    async fn put(&self, letters: &[DeadLetter]) -> Result<(), DeadLetterError> {
        if letters.is_empty() {
            return Ok(());
        }
        let err = |e: std::io::Error| DeadLetterError {
            target: self.path.display().to_string(),
            message: e.to_string(),
        };
        let mut body = Vec::new();
        for l in letters {
            serde_json::to_writer(&mut body, l).map_err(|e| err(std::io::Error::other(e)))?;
            body.push(b'\n');
        }
        let _guard = self.lock.lock().await;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(err)?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(err)?;
        file.write_all(&body).await.map_err(err)?;
        file.sync_data().await.map_err(err)?;
        Ok(())
    }
}

/// Dead letters kept in memory, for tests.
#[derive(Debug, Clone, Default)]
pub struct MemoryDeadLetters {
    letters: Arc<Mutex<Vec<DeadLetter>>>,
}

impl MemoryDeadLetters {
    /// Everything stored so far.
    pub fn all(&self) -> Vec<DeadLetter> {
        self.letters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl DeadLetterSink for MemoryDeadLetters {
    async fn put(&self, letters: &[DeadLetter]) -> Result<(), DeadLetterError> {
        self.letters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(letters);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dead_letters_keep_the_original_bytes_and_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dl/dead-letters.jsonl");
        let sink = JsonLinesDeadLetters::new(&path);
        let bytes = b"\xff\xfe not utf-8".to_vec();
        sink.put(&[DeadLetter::new(
            "shard-0",
            "42",
            "k",
            "payload is not UTF-8",
            &bytes,
        )])
        .await
        .unwrap();
        sink.put(&[DeadLetter::new(
            "shard-1",
            "7",
            "k2",
            "vertex x does not exist",
            b"a,x,d",
        )])
        .await
        .unwrap();
        let back = JsonLinesDeadLetters::read_all(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0]["reason"], "payload is not UTF-8");
        assert_eq!(back[1]["sequence_number"], "7");
        let restored = base64::engine::general_purpose::STANDARD
            .decode(back[0]["data_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(restored, bytes);
    }
}
