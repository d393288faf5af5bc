//! Where per-shard checkpoints are kept.

use crate::error::SourceError;
use crate::record::{SequenceNumber, ShardId};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use stream2neptune_common::lock;

/// How far a shard has been processed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
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

/// The stream a set of checkpoints belongs to. Sequence numbers mean nothing on another stream
/// (the service refuses them: "did not come from this stream"), and a stream deleted and
/// created again under the same name is another stream, so the ARN is what is compared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StreamIdentity {
    /// The stream's name.
    pub name: String,
    /// The stream's ARN.
    pub arn: String,
}

impl std::fmt::Display for StreamIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.arn)
    }
}

/// Durable storage of checkpoints, one per shard, of one stream.
///
/// Implementations must make [`CheckpointStore::save`] atomic per call: after a crash, a reader
/// sees either all of a call's updates or none of them.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Ties the store to `stream` before anything is read: refuses
    /// ([`SourceError::ForeignCheckpoint`]) a store that holds checkpoints of another stream,
    /// and otherwise records `stream` with the checkpoints from now on. A source calls this once,
    /// at start. The default accepts any stream (for stores that cannot tell).
    async fn bind_stream(&self, stream: &StreamIdentity) -> Result<(), SourceError> {
        let _ = stream;
        Ok(())
    }

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
    stream: Mutex<Option<StreamIdentity>>,
}

impl MemoryCheckpointStore {
    /// The checkpoint of `shard`, without `async`.
    pub fn get_sync(&self, shard: &str) -> Option<Checkpoint> {
        lock(&self.inner).get(shard).cloned()
    }

    /// How many `save` calls were made.
    pub fn save_count(&self) -> u64 {
        *lock(&self.saves)
    }
}

#[async_trait]
impl CheckpointStore for MemoryCheckpointStore {
    async fn bind_stream(&self, stream: &StreamIdentity) -> Result<(), SourceError> {
        let mut bound = lock(&self.stream);
        check_same_stream("the in-memory checkpoint store", bound.as_ref(), stream)?;
        *bound = Some(stream.clone());
        Ok(())
    }

    async fn load_all(&self) -> Result<BTreeMap<ShardId, Checkpoint>, SourceError> {
        Ok(lock(&self.inner).clone())
    }

    async fn save(&self, updates: &[(ShardId, Checkpoint)]) -> Result<(), SourceError> {
        let mut map = lock(&self.inner);
        for (shard, cp) in updates {
            map.insert(shard.clone(), cp.clone());
        }
        *lock(&self.saves) += 1;
        Ok(())
    }
}

/// Refuses checkpoints of `bound` for a consumer of `stream` when they differ.
fn check_same_stream(
    store: &str,
    bound: Option<&StreamIdentity>,
    stream: &StreamIdentity,
) -> Result<(), SourceError> {
    match bound {
        Some(b) if b.arn != stream.arn => Err(SourceError::ForeignCheckpoint {
            store: store.to_owned(),
            checkpoint_stream: b.to_string(),
            stream: stream.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The file's content: the stream, then one checkpoint per shard. Files written before the
/// stream was recorded hold the shard map alone; they are read as such and take the stream
/// that binds them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointFile {
    stream: Option<StreamIdentity>,
    shards: BTreeMap<ShardId, Checkpoint>,
}

/// Checkpoints in one JSON file, replaced atomically on every save.
///
/// A save writes the whole file to a temporary file in the same directory, flushes it to disk,
/// renames it over the old file and flushes the directory. A process killed at any instant
/// (`kill -9`) leaves either the old file or the new one, never a torn one. The file names the
/// stream its checkpoints belong to (see [`CheckpointStore::bind_stream`]).
#[derive(Debug)]
pub struct FileCheckpointStore {
    path: PathBuf,
    // Saves are serialised so two concurrent saves cannot lose each other's shards.
    lock: tokio::sync::Mutex<()>,
    stream: Mutex<Option<StreamIdentity>>,
}

impl FileCheckpointStore {
    /// A store kept at `path` (created on first save; its directory must exist or be creatable).
    /// Nothing is checked until the first call: [`FileCheckpointStore::open`] checks at once.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: tokio::sync::Mutex::new(()),
            stream: Mutex::new(None),
        }
    }

    /// A store kept at `path`, checked before anything else happens: an existing file must be a
    /// checkpoint file, and its directory must exist or be creatable, and be writable (a
    /// temporary file is created there and removed). A consumer that opens its store this way
    /// fails at start, before reading a record, instead of after its first writes.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, SourceError> {
        let store = Self::new(path);
        let dir = parent_dir(&store.path);
        let unwritable = |e: std::io::Error| {
            SourceError::checkpoint_caused(
                format!(
                    "cannot write checkpoints beside {}: {e}",
                    store.path.display()
                ),
                false,
                e,
            )
        };
        std::fs::create_dir_all(&dir).map_err(unwritable)?;
        let (tmp, file) = tempfile_in(&dir, &store.path).map_err(unwritable)?;
        drop(file);
        std::fs::remove_file(&tmp).map_err(unwritable)?;
        Self::read(&store.path)?;
        Ok(store)
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(path: &Path) -> Result<CheckpointFile, SourceError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<CheckpointFile>(&bytes)
                .or_else(|e| {
                    // A file written before the stream was recorded: the shard map alone.
                    serde_json::from_slice::<BTreeMap<ShardId, Checkpoint>>(&bytes)
                        .map(|shards| CheckpointFile {
                            stream: None,
                            shards,
                        })
                        .map_err(|_| e)
                })
                .map_err(|e| {
                    SourceError::checkpoint_caused(
                        format!("{} is not a checkpoint file: {e}", path.display()),
                        false,
                        e,
                    )
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CheckpointFile::default()),
            Err(e) => Err(SourceError::checkpoint_caused(
                format!("cannot read {}: {e}", path.display()),
                true,
                e,
            )),
        }
    }

    fn write_atomically(path: &Path, file: &CheckpointFile) -> std::io::Result<()> {
        let dir = parent_dir(path);
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile_in(&dir, path)?;
        let body = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
        tmp.1.write_all(&body)?;
        tmp.1.sync_all()?;
        drop(tmp.1);
        std::fs::rename(&tmp.0, path)?;
        // The rename itself is only durable once the directory entry is flushed.
        std::fs::File::open(&dir)?.sync_all()?;
        Ok(())
    }

    fn bound_stream(&self) -> Option<StreamIdentity> {
        lock(&self.stream).clone()
    }
}

/// The directory `path` lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
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
    async fn bind_stream(&self, stream: &StreamIdentity) -> Result<(), SourceError> {
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        let file = tokio::task::spawn_blocking(move || Self::read(&path))
            .await
            .map_err(|e| {
                SourceError::checkpoint_caused(format!("checkpoint read task failed: {e}"), true, e)
            })??;
        check_same_stream(
            &self.path.display().to_string(),
            file.stream.as_ref(),
            stream,
        )?;
        *lock(&self.stream) = Some(stream.clone());
        Ok(())
    }

    async fn load_all(&self) -> Result<BTreeMap<ShardId, Checkpoint>, SourceError> {
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || Self::read(&path).map(|f| f.shards))
            .await
            .map_err(|e| {
                SourceError::checkpoint_caused(format!("checkpoint read task failed: {e}"), true, e)
            })?
    }

    async fn save(&self, updates: &[(ShardId, Checkpoint)]) -> Result<(), SourceError> {
        if updates.is_empty() {
            return Ok(());
        }
        let _guard = self.lock.lock().await;
        let path = self.path.clone();
        let updates = updates.to_vec();
        let bound = self.bound_stream();
        tokio::task::spawn_blocking(move || {
            let mut file = Self::read(&path)?;
            if bound.is_some() {
                file.stream = bound;
            }
            for (shard, cp) in updates {
                file.shards.insert(shard, cp);
            }
            Self::write_atomically(&path, &file).map_err(|e| {
                SourceError::checkpoint_caused(
                    format!("cannot write {}: {e}", path.display()),
                    true,
                    e,
                )
            })
        })
        .await
        .map_err(|e| {
            SourceError::checkpoint_caused(format!("checkpoint write task failed: {e}"), true, e)
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

    fn stream(name: &str) -> StreamIdentity {
        StreamIdentity {
            name: name.into(),
            arn: format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}"),
        }
    }

    #[tokio::test]
    async fn a_file_of_another_stream_is_refused_naming_both_streams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        let store = FileCheckpointStore::open(&path).unwrap();
        store.bind_stream(&stream("a")).await.unwrap();
        store
            .save(&[("s".into(), Checkpoint::AfterSequence("1".into()))])
            .await
            .unwrap();
        // The same stream binds again; another one is refused, and the file is left alone.
        let again = FileCheckpointStore::open(&path).unwrap();
        again.bind_stream(&stream("a")).await.unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = FileCheckpointStore::open(&path)
            .unwrap()
            .bind_stream(&stream("b"))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("stream/a") && text.contains("stream/b"),
            "{text}"
        );
        assert!(!err.is_retriable());
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[tokio::test]
    async fn a_file_without_its_stream_is_read_and_takes_the_stream_that_binds_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.json");
        std::fs::write(&path, br#"{"s": {"after_sequence": "7"}}"#).unwrap();
        let store = FileCheckpointStore::open(&path).unwrap();
        store.bind_stream(&stream("a")).await.unwrap();
        assert_eq!(
            store.load("s").await.unwrap(),
            Some(Checkpoint::AfterSequence("7".into()))
        );
        store
            .save(&[("t".into(), Checkpoint::ShardEnd)])
            .await
            .unwrap();
        let err = FileCheckpointStore::new(&path)
            .bind_stream(&stream("b"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SourceError::ForeignCheckpoint { .. }),
            "{err}"
        );
    }

    #[test]
    fn opening_fails_at_once_where_checkpoints_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, b"x").unwrap();
        // A directory that cannot exist: its parent is a file.
        let err = FileCheckpointStore::open(blocker.join("cp.json")).unwrap_err();
        assert!(
            err.to_string().contains("cannot write checkpoints"),
            "{err}"
        );
        assert!(!err.is_retriable());
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
