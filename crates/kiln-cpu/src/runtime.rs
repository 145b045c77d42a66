//! The CPU runtime: engines loaded from plans, execution contexts that run them.

use kiln_core::error::Result;
use kiln_core::kiln_bail;
use kiln_core::plan::PlanInfo;
use kiln_core::tensor::Tensor;
use std::sync::Arc;

/// The CPU backend as the builder sees it.
pub struct CpuBackend;

/// A loaded plan: immutable, shared by its contexts.
pub struct CpuEngine {
    info: PlanInfo,
}

impl CpuEngine {
    /// Loads plan bytes; fails with a coded error on corrupt or foreign plans.
    pub fn load(bytes: &[u8]) -> Result<Arc<CpuEngine>> {
        let _ = bytes;
        kiln_bail!(Unsupported, "CPU engines are not implemented yet")
    }

    pub fn info(&self) -> &PlanInfo {
        &self.info
    }

    /// `num_threads`: 0 = all cores.
    pub fn create_context(self: &Arc<Self>, num_threads: usize) -> Result<CpuContext> {
        let _ = num_threads;
        Ok(CpuContext { engine: self.clone() })
    }
}

/// Per-context state (activation buffers). One context runs one inference at a time; several
/// contexts of one engine may run concurrently.
pub struct CpuContext {
    engine: Arc<CpuEngine>,
}

impl CpuContext {
    /// Runs the engine on named inputs; returns the outputs in the plan's output order.
    pub fn run(&mut self, inputs: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>> {
        let _ = (inputs, &self.engine);
        kiln_bail!(Unsupported, "CPU execution is not implemented yet")
    }
}
