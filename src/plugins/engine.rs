//! The one wasmtime engine of the gateway: component model, async calls,
//! epoch interruption with a ticker that really advances the epoch, and the
//! pooling allocator sized from the config. Limits live here, in one place.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::error::PluginError;
use super::limiter::{MAX_INSTANCES, MAX_MEMORIES, MAX_TABLE_ELEMENTS, MAX_TABLES};
use crate::config::PluginsConfig;

/// How often the epoch advances; a deadline is enforced to within about this.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(2);

/// The engine plus its epoch ticker. Cloning shares both; the ticker stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct PluginEngine {
    engine: Engine,
    _ticker: Arc<Ticker>,
    slots: Arc<Semaphore>,
    /// The share of slots that pages for refused requests (those refused
    /// before their state was checked) may hold, so a flood of forged
    /// callbacks cannot starve deliveries.
    refusals: Arc<Semaphore>,
    max_concurrent: u32,
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginEngine")
            .field("max_concurrent", &self.max_concurrent)
            .finish_non_exhaustive()
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on its own thread, so a
/// guest spinning on a busy runtime thread is still interrupted.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The slots refused requests' pages may hold at once: a quarter, at least one.
fn refusal_share(max_concurrent: u32) -> usize {
    (max_concurrent as usize / 4).max(1)
}

/// How much of each pooled memory and table stays resident between
/// instances (covers a small Rust plugin's whole memory).
const KEEP_RESIDENT: usize = 1 << 20;

impl PluginEngine {
    /// Builds the engine for the plugins in `config`.
    pub fn new(config: &PluginsConfig) -> Result<Self, PluginError> {
        let max_memory = config
            .limits
            .values()
            .map(|l| l.memory_bytes)
            .chain([config.default_limits.memory_bytes])
            .max()
            .unwrap_or(config.default_limits.memory_bytes);
        let n = config.max_concurrent;
        let mut pool = PoolingAllocationConfig::default();
        // Each of the `n` slots holds exactly what one call may take (see
        // `limiter`), and a component needing more is refused when it is
        // compiled, so a call never finds the pool drained by another: past
        // `n` calls wait for a slot, they never fail.
        let per_call = |max: usize| n.saturating_mul(u32::try_from(max).unwrap_or(u32::MAX));
        pool.total_component_instances(n)
            .total_core_instances(per_call(MAX_INSTANCES))
            .total_memories(per_call(MAX_MEMORIES))
            .total_tables(per_call(MAX_TABLES))
            .total_stacks(n)
            .max_memory_size(usize::try_from(max_memory).unwrap_or(usize::MAX))
            .max_memories_per_component(MAX_MEMORIES as u32)
            .max_tables_per_component(MAX_TABLES as u32)
            .max_core_instances_per_component(MAX_INSTANCES as u32)
            .max_component_instance_size(4 << 20)
            .max_core_instance_size(4 << 20)
            .table_elements(MAX_TABLE_ELEMENTS)
            // Reset the first pages of a finished instance's memories and
            // tables in place instead of returning them to the kernel: an
            // madvise costs a TLB shootdown on every core and the next
            // instance faults the pages back in, on every call.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            // Where the kernel can say which of those pages the instance
            // wrote (Linux 6.7+), reset only those: a call that touches a
            // few pages no longer pays a memset of the whole resident part.
            .pagemap_scan(Enabled::Auto);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticking = engine.clone();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| PluginError::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Self {
            engine,
            _ticker: Arc::new(Ticker { stop }),
            slots: Arc::new(Semaphore::new(n as usize)),
            refusals: Arc::new(Semaphore::new(refusal_share(n))),
            max_concurrent: n,
        })
    }

    /// The wasmtime engine.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A place among the slots refused requests' pages may use, if one is
    /// free now (it is never waited for: the host's own page answers).
    pub(crate) fn refusal_share(&self) -> Option<OwnedSemaphorePermit> {
        self.refusals.clone().try_acquire_owned().ok()
    }

    /// Waits for a free instance slot; the slot is held until the permit drops.
    /// Calls beyond the pool's size queue here instead of failing.
    pub(crate) async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().acquire_owned().await.ok()
    }
}
