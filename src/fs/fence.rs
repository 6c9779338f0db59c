//! [`Fence`]: who may still change a database directory.
//!
//! Work that creates, renames or deletes files in a database directory
//! outside the engine's own background threads — a manual compaction on a
//! caller's thread, a table file deleted when the last reader lets go of
//! it — holds a [`FencePass`] while it does. Closing the database closes
//! the fence: it waits for the passes held, and refuses new ones. After
//! that nothing of the closed handle changes the directory, so another
//! `Db` may open it.
//!
//! # Thread safety
//! Passes are recursive read locks: a thread that holds one may take
//! another (a manual compaction that drops the last reference to a table
//! deletes it under a second pass) even while `close` waits.

use parking_lot::{RwLock, RwLockReadGuard};

/// The gate; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Fence {
    /// `true` once closed.
    closed: RwLock<bool>,
}

/// Permission to change the directory, held for as long as the change
/// takes.
pub(crate) struct FencePass<'a> {
    _guard: RwLockReadGuard<'a, bool>,
}

impl Fence {
    /// A pass, or `None` once the fence is closed.
    pub(crate) fn enter(&self) -> Option<FencePass<'_>> {
        let guard = self.closed.read_recursive();
        (!*guard).then_some(FencePass { _guard: guard })
    }

    /// Waits until no pass is held, then refuses every later one.
    /// REQUIRES: the calling thread holds no pass (it would wait for
    /// itself).
    pub(crate) fn close(&self) {
        *self.closed.write() = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn close_waits_for_passes_and_refuses_new_ones() {
        let fence = Arc::new(Fence::default());
        let pass = fence.enter().expect("open");
        let nested = fence.enter().expect("recursive");
        let closer = {
            let fence = Arc::clone(&fence);
            std::thread::spawn(move || fence.close())
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!closer.is_finished(), "close must wait for the passes");
        drop(nested);
        drop(pass);
        closer.join().expect("close");
        assert!(fence.enter().is_none());
    }
}
