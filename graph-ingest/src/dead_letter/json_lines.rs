//! Dead letters in a JSON-lines file.

use super::{DeadLetter, DeadLetterError, DeadLetterSink};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use stream2neptune_common::ErrorKind;
use tokio::io::AsyncWriteExt;

/// Dead letters appended to a JSON-lines file, one [`DeadLetter`] object per line, flushed to
/// disk (`fdatasync`) before `put` returns.
#[derive(Debug)]
pub struct JsonLinesDeadLetters {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl JsonLinesDeadLetters {
    /// A sink appending to `path`; the file and its directory are created on the first `put`.
    /// Nothing is checked until then: [`JsonLinesDeadLetters::open`] checks at once.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// A sink appending to `path`, opened now: the directory is created and the file opened
    /// for appending (created if missing), so a path that cannot be written fails before any
    /// record is read, not after the first edges were written.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, DeadLetterError> {
        let sink = Self::new(path);
        // A file that cannot be opened or created is a setting to change.
        let fail = |e: std::io::Error| {
            DeadLetterError::new(sink.path.display().to_string(), ErrorKind::Usage, e)
        };
        if let Some(dir) = sink.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&sink.path)
            .map_err(fail)?;
        Ok(sink)
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every dead letter back from a file written by this sink (none if it is missing).
    pub fn read_all(path: &Path) -> std::io::Result<Vec<DeadLetter>> {
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
        // An open file that refuses a write (a full disk) may take it later.
        let err = |e: std::io::Error| {
            DeadLetterError::new(self.path.display().to_string(), ErrorKind::Retriable, e)
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

#[cfg(test)]
mod tests {
    use super::*;
    use stream2neptune_common::Classify;

    #[tokio::test]
    async fn dead_letters_keep_the_original_bytes_and_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dl/dead-letters.jsonl");
        let sink = JsonLinesDeadLetters::open(&path).unwrap();
        let bytes = b"\xff\xfe not utf-8".to_vec();
        let first = DeadLetter::new("shard-0", "42", "k", "payload is not UTF-8", &bytes);
        sink.put(std::slice::from_ref(&first)).await.unwrap();
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
        assert_eq!(back[0], first);
        assert_eq!(back[0].data(), bytes);
        assert_eq!(back[1].sequence_number, "7");
    }

    #[test]
    fn a_path_that_cannot_be_written_fails_at_open() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be.
        let err = JsonLinesDeadLetters::open(dir.path()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(
            err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        assert!(JsonLinesDeadLetters::open(blocker.join("dl.jsonl")).is_err());
    }
}
