//! Writes any `follows` edges as a Neptune Gremlin CSV edge file.

use super::EDGE_HEADER;
use crate::edge::FollowsEdge;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes edges one at a time to `~id,~label,~from,~to,creationDate` CSV, plain or gzip,
/// quoting fields as CSV requires. Edge ids are `e0`, `e1`, ... in write order.
///
/// [`write_dataset`](super::write_dataset) has its own allocation-free path for generated edges; this writer
/// is for edges from anywhere else (tests, conversions, hand-made data sets).
pub struct EdgeFileWriter {
    path: PathBuf,
    csv: csv::Writer<Output>,
    written: u64,
}

enum Output {
    Plain(BufWriter<File>),
    Gzip(Box<GzEncoder<BufWriter<File>>>),
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Plain(w) => w.write(buf),
            Output::Gzip(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Plain(w) => w.flush(),
            Output::Gzip(w) => w.flush(),
        }
    }
}

impl std::fmt::Debug for EdgeFileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeFileWriter")
            .field("path", &self.path)
            .field("written", &self.written)
            .finish()
    }
}

impl EdgeFileWriter {
    /// Creates `path` (gzip-compressed at a fast level if `gzip`) and writes the header.
    pub fn create(path: impl AsRef<Path>, gzip: bool) -> std::io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = BufWriter::with_capacity(1 << 16, File::create(&path)?);
        let sink = if gzip {
            Output::Gzip(Box::new(GzEncoder::new(file, Compression::fast())))
        } else {
            Output::Plain(file)
        };
        let mut csv = csv::Writer::from_writer(sink);
        csv.write_record(EDGE_HEADER)?;
        Ok(Self {
            path,
            csv,
            written: 0,
        })
    }

    /// Appends one edge.
    pub fn write(&mut self, edge: &FollowsEdge) -> std::io::Result<()> {
        let id = format!("e{}", self.written);
        self.csv.write_record([
            id.as_str(),
            "follows",
            edge.from.as_str(),
            edge.to.as_str(),
            edge.creation_date.as_str(),
        ])?;
        self.written += 1;
        Ok(())
    }

    /// Flushes and closes the file (finishing the gzip stream); returns the number of edges.
    pub fn finish(self) -> std::io::Result<u64> {
        let inner = self.csv.into_inner().map_err(|e| e.into_error())?;
        let mut file = match inner {
            Output::Plain(w) => w,
            Output::Gzip(gz) => (*gz).finish()?,
        };
        file.flush()?;
        file.get_ref().sync_all()?;
        Ok(self.written)
    }
}
