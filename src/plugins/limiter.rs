//! What one plugin call may take, counted over the whole call: the sum of
//! all its linear memories (a component may have several, and a limit per
//! memory would let one call reach several times `memory_limit_mib`), its
//! tables' elements, and how many instances, memories and tables it makes.

use wasmtime::ResourceLimiter;

/// The most core instances one call may make (the pool gives each slot this many).
pub(crate) const MAX_INSTANCES: usize = 16;
/// The most linear memories one call may make (the pool gives each slot this many).
pub(crate) const MAX_MEMORIES: usize = 4;
/// The most tables one call may make (the pool gives each slot this many).
pub(crate) const MAX_TABLES: usize = 16;
/// The most elements one table may hold.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The limits of one call, and what it has taken so far.
#[derive(Debug)]
pub(crate) struct CallLimiter {
    /// The most bytes all of the call's memories may hold together.
    memory_bytes: usize,
    /// What they hold now.
    memory_used: usize,
    /// The growth last allowed, given back if it then failed.
    last_growth: usize,
}

impl CallLimiter {
    /// A call that may hold `memory_bytes` in all of its memories together.
    pub(crate) fn new(memory_bytes: usize) -> Self {
        Self {
            memory_bytes,
            memory_used: 0,
            last_growth: 0,
        }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.memory_used.saturating_add(growth);
        if total > self.memory_bytes {
            self.last_growth = 0;
            return Ok(false);
        }
        self.memory_used = total;
        self.last_growth = growth;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_used = self.memory_used.saturating_sub(self.last_growth);
        self.last_growth = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn sandbox_the_memory_limit_covers_the_sum_of_a_calls_memories() {
        let mut limiter = CallLimiter::new(32 * MIB);
        // Two memories of 20 MiB each: the first fits, the second does not.
        assert!(limiter.memory_growing(0, 20 * MIB, None).expect("first"));
        assert!(!limiter.memory_growing(0, 20 * MIB, None).expect("second"));
        assert!(
            limiter
                .memory_growing(0, 12 * MIB, None)
                .expect("what is left")
        );
        assert!(
            !limiter
                .memory_growing(12 * MIB, 12 * MIB + 64 * 1024, None)
                .expect("full")
        );
        // A growth that failed after it was allowed is given back.
        let mut limiter = CallLimiter::new(32 * MIB);
        assert!(limiter.memory_growing(0, 30 * MIB, None).expect("allowed"));
        limiter
            .memory_grow_failed(wasmtime::Error::msg("the OS said no"))
            .expect("noted");
        assert!(limiter.memory_growing(0, 30 * MIB, None).expect("again"));
        assert!(
            !limiter
                .table_growing(0, MAX_TABLE_ELEMENTS + 1, None)
                .expect("table")
        );
    }
}
