//! The pause switch: the original's `wait` parameter, for a long-running consumer.
//!
//! The original Lambda threw on every invocation while `wait` was `true`, so the event source
//! mapping kept the shards where they were. Here a consumer pauses while a file exists: creating
//! it holds every shard (nothing is read, nothing is lost), removing it resumes.

use graph_ingest::Control;
use std::path::PathBuf;
use std::time::Duration;

/// Watches `path` every `every` and pauses `control` while it exists. If `start_paused`, the
/// file is created first (the original's default was to wait).
pub fn watch_pause_file(path: PathBuf, start_paused: bool, every: Duration, control: Control) {
    if start_paused {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(&path, b"remove this file to resume\n");
    }
    control.set_paused(path.exists());
    tokio::spawn(async move {
        let mut last = path.exists();
        loop {
            tokio::time::sleep(every).await;
            let now = path.exists();
            if now != last {
                if now {
                    eprintln!(
                        "Waiting... [remove {} to continue processing]",
                        path.display()
                    );
                }
                last = now;
                control.set_paused(now);
            }
        }
    });
}
