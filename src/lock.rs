//! Locking a mutex that guards plain data: a thread that panicked while
//! holding it cannot have left that data half-changed in a way that
//! matters (lists, maps, byte buffers), so a poisoned lock is taken as is
//! instead of spreading the panic.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, poisoned or not.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
