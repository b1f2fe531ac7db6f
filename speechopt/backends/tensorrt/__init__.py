"""TensorRT: engine building and running, one idea a module.

`profiles` (optimization profiles from named dimension ranges), `precision` (what an ONNX graph carries and
how to build a requested precision from it), `compat` (which TensorRT and GPU can run an engine),
`builder` (the native ONNX-parser build), `torch_trt` (the Torch-TensorRT path) and `runner` (the
`TensorRTRunner`). Nothing here imports tensorrt or torch at import time (only inside functions), so
`speechopt --help` stays instant; and nothing here imports from `speechopt.steps` or `speechopt.tasks`.
"""
