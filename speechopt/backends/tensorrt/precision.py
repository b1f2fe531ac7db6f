"""Precision: what an ONNX graph carries, and how TensorRT builds a requested precision from it.

On TensorRT 11 precision is a property of the ONNX model (strong typing only: no FP16/INT8 builder
flags): fp16 needs an fp16-converted ONNX, int8 a Q/DQ ONNX. TensorRT 10.x may still add the
(deprecated) FP16 flag to an fp32 model. ONNX Runtime's dynamic and QOperator int8 formats are refused.
"""

from __future__ import annotations

from speechopt.errors import SpeechoptError

PRECISIONS = ("fp32", "fp16", "int8")
_DYNAMIC_INT8_OPS = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeLSTM"}


def onnx_precision(path) -> str:
    """What the ONNX graph itself carries: fp32, fp16, bf16, int8 (Q/DQ), fp8 (Q/DQ), int8-dynamic or
    int8-qoperator (ONNX Runtime formats that TensorRT cannot build). Weights are not loaded."""
    import onnx
    from onnx import TensorProto

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    ops = {n.op_type for n in graph.node}
    inits = {i.name: i for i in graph.initializer}
    if ops & _DYNAMIC_INT8_OPS:
        return "int8-dynamic"
    if any(op.startswith("QLinear") for op in ops):
        return "int8-qoperator"
    if "QuantizeLinear" in ops or "DequantizeLinear" in ops:
        zp_types = set()
        for n in graph.node:
            if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2 and n.input[2] in inits:
                zp_types.add(inits[n.input[2]].data_type)
            if n.op_type == "QuantizeLinear":
                for a in n.attribute:
                    if a.name == "output_dtype" and a.i:
                        zp_types.add(a.i)
        fp8 = {getattr(TensorProto, t) for t in ("FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ")
               if hasattr(TensorProto, t)}
        return "fp8" if zp_types and zp_types <= fp8 else "int8"
    types = {i.data_type for i in graph.initializer}
    types |= {v.type.tensor_type.elem_type for v in list(graph.input) + list(graph.output)}
    for n in graph.node:
        for a in n.attribute:
            if n.op_type == "Cast" and a.name == "to":
                types.add(a.i)
            if n.op_type == "Constant" and a.name == "value":
                types.add(a.t.data_type)
    if TensorProto.FLOAT16 in types:
        return "fp16"
    if TensorProto.BFLOAT16 in types:
        return "bf16"
    return "fp32"


def plan_precision(requested: str, model_precision: str, trt_major: int) -> dict:
    """How to build `requested` from an ONNX carrying `model_precision` on TensorRT `trt_major`.

    Returns {"strongly_typed": bool, "flags": [BuilderFlag names], "mode": str}. TensorRT 11 has only
    strongly typed networks (BuilderFlag.FP16/INT8 were removed); 10.x still has the FP16 flag
    (deprecated since 10.12), which is used only to make fp16 from an fp32 model.
    """
    if requested not in PRECISIONS:
        raise SpeechoptError(f"unknown precision {requested!r}; choose {', '.join(PRECISIONS)}")
    if model_precision == "int8-dynamic":
        raise SpeechoptError("the ONNX model is dynamically quantized (MatMulInteger/DynamicQuantizeLinear), which "
                             "TensorRT cannot build; quantize with `speechopt quantize --method static` (Q/DQ) instead")
    if model_precision == "int8-qoperator":
        raise SpeechoptError("the ONNX model uses ONNX Runtime's QOperator format (QLinear* nodes), which TensorRT "
                             "cannot build; quantize with `speechopt quantize --method static` in Q/DQ format")
    strong = {"strongly_typed": True, "flags": [], "mode": f"strongly typed: precision from the {model_precision} ONNX"}
    if requested == "fp32":
        if model_precision != "fp32":
            raise SpeechoptError(f"the ONNX model is already {model_precision}; build it with --precision "
                                 f"{'int8' if model_precision in ('int8', 'fp8') else model_precision} or build its fp32 parent")
        return strong
    if requested == "fp16":
        if model_precision == "fp16":
            return strong
        if model_precision != "fp32":
            raise SpeechoptError(f"--precision fp16 needs an fp32 or fp16 ONNX model; this one is {model_precision}")
        if trt_major >= 11:
            raise SpeechoptError(f"TensorRT {trt_major} has no FP16 builder flag (strongly typed networks only): "
                                 "convert the model first with `speechopt quantize --method fp16`, then build that artifact")
        return {"strongly_typed": False, "flags": ["FP16"],
                "mode": "weakly typed with BuilderFlag.FP16 (deprecated since TensorRT 10.12; removed in 11)"}
    # int8
    if model_precision == "int8":
        return strong
    raise SpeechoptError(f"--precision int8 needs a Q/DQ ONNX model (this one is {model_precision}): run "
                         "`speechopt quantize --method static` first (TensorRT calibrators are deprecated since "
                         "10.1 and removed in 11)")
