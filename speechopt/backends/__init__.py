"""Backends: one runner per runtime, behind the small interface in `base.py`.

Runners are registered as "module:Class" strings, so importing this package imports no runtime.
"""

from speechopt.backends.base import Runner, create_runner, create_runners, list_backends, register_runner

register_runner("pytorch", ("cpu", "cuda"), "speechopt.backends.torch_runner:TorchRunner")
register_runner("torchscript", ("cpu", "cuda"), "speechopt.backends.torch_runner:TorchScriptRunner")
register_runner("exported-program", ("cpu", "cuda"), "speechopt.backends.torch_runner:ExportedProgramRunner")
register_runner("onnx", ("cpu", "cuda", "tensorrt"), "speechopt.backends.onnxrt:OnnxRuntimeRunner")
register_runner("tensorrt", ("cuda", "tensorrt"), "speechopt.backends.tensorrt.runner:TensorRTRunner")

__all__ = ["Runner", "create_runner", "create_runners", "list_backends", "register_runner"]
