//! Locking a mutex whose holder may have panicked.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking the data even if a holder panicked.
///
/// The workspace's mutexes guard state that every update leaves consistent in one step (a
/// counter, a queue, a map entry), so a panic elsewhere never leaves it half-changed; refusing
/// it after a panic would only turn one failure into many.
///
/// ```
/// use std::sync::Mutex;
/// use stream2neptune_common::lock;
///
/// let counter = Mutex::new(0);
/// *lock(&counter) += 1;
/// assert_eq!(*lock(&counter), 1);
/// ```
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_panicking_holder_does_not_lock_others_out() {
        let shared = Arc::new(Mutex::new(vec![1]));
        let held = shared.clone();
        let _ = std::thread::spawn(move || {
            let _guard = held.lock().unwrap();
            panic!("a holder panics");
        })
        .join();
        assert!(shared.is_poisoned());
        lock(&shared).push(2);
        assert_eq!(*lock(&shared), vec![1, 2]);
    }
}
