//! Dead letters in memory, for tests.

use super::{DeadLetter, DeadLetterError, DeadLetterSink};
use async_trait::async_trait;
use std::sync::{Arc, Mutex};

/// Dead letters kept in memory, for tests and runs that need no file. Clones share the letters.
#[derive(Debug, Clone, Default)]
pub struct MemoryDeadLetters {
    letters: Arc<Mutex<Vec<DeadLetter>>>,
}

impl MemoryDeadLetters {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

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
