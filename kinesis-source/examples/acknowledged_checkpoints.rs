//! Checkpoints that only cover acknowledged records: a consumer acknowledges out of order and
//! "crashes"; a restart reads again exactly what was not acknowledged. In memory here; a
//! `KinesisSource` on a real stream behaves the same way.
//!
//! `cargo run -p kinesis-source --example acknowledged_checkpoints`
use kinesis_source::{FileCheckpointStore, MemorySource, MemoryStream, RecordSource};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("acked-{}", std::process::id()));
    let stream = MemoryStream::new(1);
    for i in 0..10 {
        stream.put("key", format!("record {i}").into_bytes());
    }
    let store = Arc::new(FileCheckpointStore::open(dir.join("checkpoints.json"))?);
    let mut source = MemorySource::new(stream.clone(), store.clone(), 10);
    let batch = source.next_batch().await?.expect("ten records");
    // Records 0, 1, 2 and 5 are done; 3 is not (its write is still failing, say).
    for i in [0, 1, 2, 5] {
        batch.ack(&batch.records[i]);
    }
    source.checkpoint().await?;
    drop(source); // a crash
    let mut again = MemorySource::new(stream, store, 10).until_caught_up();
    let batch = again.next_batch().await?.expect("what was not covered");
    let texts: Vec<_> = batch
        .records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.data).into_owned())
        .collect();
    println!("after the restart: {texts:?}");
    println!("checkpoints in {}", dir.join("checkpoints.json").display());
    Ok(())
}
