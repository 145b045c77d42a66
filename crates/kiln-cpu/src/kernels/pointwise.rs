use kiln_core::error::Result;
use kiln_core::layer::LayerKind;
use kiln_core::tensor::Tensor;
use kiln_core::kiln_bail;

pub fn execute(kind: &LayerKind, _inputs: &[Option<&Tensor>], _outputs: &mut [Tensor]) -> Result<()> {
    kiln_bail!(Unsupported, "the CPU backend has no kernel for '{}' yet", kind.type_name())
}
