//! Where per-shard checkpoints are kept.

use crate::error::SourceError;
use crate::record::{SequenceNumber, ShardId};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How far a shard has been processed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Checkpoint {
    /// Every record up to and including this sequence number was processed; resume after it.
    AfterSequence(SequenceNumber),
    /// Inside a KPL aggregate (see [`crate::kpl`]): every record before `sequence`, and the
    /// user records of the aggregate at `sequence` up to and including `sub_sequence`, were
    /// processed; resume at the aggregate and skip those (as KCL's sub-sequence checkpoints).
    AfterSubSequence {
        /// The aggregate's sequence number.
        sequence: SequenceNumber,
        /// The last processed user record's index in it.
        sub_sequence: u64,
    },
    /// The shard was closed by a reshard and every record of it was processed: its children
    /// may start.
    ShardEnd,
}

/// Durable storage of checkpoints, one per shard.
///
/// Implementations must make [`CheckpointStore::save`] atomic per call: after a crash, a reader
/// sees either all of a call's updates or none of them.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Every stored checkpoint.
    async fn load_all(&self) -> Result<BTreeMap<ShardId, Checkpoint>, SourceError>;

    /// The checkpoint of one shard.
    async fn load(&self, shard: &str) -> Result<Option<Checkpoint>, SourceError> {
        Ok(self.load_all().await?.remove(shard))
    }

    /// Stores checkpoints, replacing the previous ones of the same shards.
    async fn save(&self, updates: &[(ShardId, Checkpoint)]) -> Result<(), SourceError>;
}

/// Checkpoints in memory: for tests, and for runs that do not need to resume.
#[derive(Debug, Default)]
pub struct MemoryCheckpointStore {
    inner: Mutex<BTreeMap<ShardId, Checkpoint>>,
    saves: Mutex<u64>,
}

impl MemoryCheckpointStore {
    /// The checkpoint of `shard`, without `async`.
    pub fn get_sync(&self, shard: &str) -> Option<Checkpoint> {
        self.lock().get(shard).cloned()
    }

    /// How many `save` calls were made.
    pub fn save_count(&self) -> u64 {
        *self.saves.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ShardId, Checkpoint>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl CheckpointStore for MemoryCheckpointStore {
    async fn load_all(&self) -> Result<BTreeMap<ShardId, Checkpoint>, SourceError> {
        Ok(self.lock().clone())
    }

    async fn save(&self, updates: &[(ShardId, Checkpoint)]) -> Result<(), SourceError> {
        let mut map = self.lock();
        for (shard, cp) in updates {
            map.insert(shard.clone(), cp.clone());
        }
        *self.saves.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Ok(())
    }
}

/// Checkpoints in one JSON file, replaced atomically on every save.
///
/// A save writes the whole map to a temporary file in the same directory, flushes it to disk,
/// renames it over the old file and flushes the directory. A process killed at any instant
/// (`kill -9`) leaves either the old file or the new one, never a torn one.
#[derive(Debug)]
pub struct FileCheckpointStore {
    path: PathBuf,
    // Saves are serialised so two concurrent saves cannot lose each other's shards.
    lock: tokio::sync::Mutex<()>,
}

impl FileCheckpointStore {
    /// A store kept at `path` (created on first save; its directory must exist or be creatable).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(path: &Path) -> Result<BTreeMap<ShardId, Checkpoint>, SourceError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| SourceError::Checkpoint {
                message: format!("{} is not a checkpoint file: {e}", path.display()),
                retriable: false,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(SourceError::Checkpoint {
                message: format!("cannot read {}: {e}", path.display()),
                retriable: true,
            }),
        }
    }

    fn write_atomically(path: &Path, map: &BTreeMap<ShardId, Checkpoint>) -> std::io::Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile_in(&dir, path)?;
        let body = serde_json::to_vec_pretty(map).map_err(std::io::Error::other)?;
        tmp.1.write_all(&body)?;
        tmp.1.sync_all()?;
        drop(tmp.1);
        std::fs::rename(&tmp.0, path)?;
        // The rename itself is only durable once the directory entry is flushed.
        std::fs::File::open(&dir)?.sync_all()?;
        Ok(())
    }
}

/// Creates a uniquely named temporary file beside `target`.
fn tempfile_in(dir: &Path, target: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let stem = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoints".into());
    for attempt in 0..100u32 {
        let candidate = dir.join(format!(".{stem}.{}.{attempt}.tmp", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(f) => return Ok((candidate, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // A leftover of a killed process with the same pid: remove and retry.
                let _ = std::fs::remove_file(&candidate);
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temporary file name"))
}

#[async_trait]
impl CheckpointStore for FileCheckpointStore {
    async fn load_all(&self) -> Result<BTreeMap<ShardId, Checkpoint>, SourceError> {
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || Self::read(&path))
            .await
            .map_err(|e| SourceError::Checkpoint {
                message: format!("checkpoint read task failed: {e}"),
                retriable: true,
            })?
    }

    async fn save(&self, updates: &[(ShardId, Checkpoint)]) -> Result<(), SourceError> {
        if updates.is_empty() {
            return Ok(());
        }
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        let updates = updates.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut map = Self::read(&path)?;
            for (shard, cp) in updates {
                map.insert(shard, cp);
            }
            Self::write_atomically(&path, &map).map_err(|e| SourceError::Checkpoint {
                message: format!("cannot write {}: {e}", path.display()),
                retriable: true,
            })
        })
        .await
        .map_err(|e| SourceError::Checkpoint {
            message: format!("checkpoint write task failed: {e}"),
            retriable: true,
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_store_round_trips_and_merges_saves() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::new(dir.path().join("cp.json"));
        assert!(store.load_all().await.unwrap().is_empty());
        store
            .save(&[("a".into(), Checkpoint::AfterSequence("12".into()))])
            .await
            .unwrap();
        store
            .save(&[("b".into(), Checkpoint::ShardEnd)])
            .await
            .unwrap();
        let again = FileCheckpointStore::new(dir.path().join("cp.json"));
        assert_eq!(
            again.load("a").await.unwrap(),
            Some(Checkpoint::AfterSequence("12".into()))
        );
        assert_eq!(again.load("b").await.unwrap(), Some(Checkpoint::ShardEnd));
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[tokio::test]
    async fn a_corrupt_file_is_a_clear_error_not_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        std::fs::write(&path, b"{not json").unwrap();
        let err = FileCheckpointStore::new(&path)
            .load_all()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a checkpoint file"), "{err}");
        assert!(!err.is_retriable());
    }
}
