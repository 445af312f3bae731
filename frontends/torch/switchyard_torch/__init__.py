"""switchyard_torch: converts TorchScript (scripted, traced or saved with
torch.jit.save) into a Switchyard program: `.sy` text plus `.safetensors` weights.

    import switchyard_torch
    switchyard_torch.export(torch.jit.script(model), (x,), out="model.sy")

or `python -m switchyard_torch model.pt -o model.sy --input-shape x=1,3,224,224`.
"""
from .api import ExportResult, export, supported_ops
from .ir import ConversionError

__all__ = ["export", "ExportResult", "ConversionError", "supported_ops"]
__version__ = "0.1.0"
