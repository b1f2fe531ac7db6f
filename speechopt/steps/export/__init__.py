"""Export a pytorch artifact to TorchScript, ONNX or torch.export programs, one file per graph, validated.

The architecture's export config (`speechopt.models.export_config`) says which graphs the model is cut
into and how each is fed; the exporters (`exporters.py`) write one graph each; every graph is then run
on batch sizes and lengths the exporter never saw against its eager module (`validation.py`: a frozen
dynamic axis fails here, not in production), and the whole artifact on real data against the source
through the task (`task.validate_export`). Files are built in a temporary folder and moved into the
artifact (written atomically) only when every check passes, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from speechopt.artifact import Artifact, graph_entry, inherited_fields, library_versions, load_artifact, write_artifact
from speechopt.errors import SpeechoptError
from speechopt.steps.export import exporters, validation

SUFFIXES = {"torchscript": "ts", "onnx": "onnx", "exported-program": "pt2"}
ONNX_EXPORTERS = ("auto", "dynamo", "legacy")
TORCHSCRIPT_MODES = ("trace", "script")
LAYOUTS = ("auto", "native", "planar")
DEFAULT_ATOL = 1e-3  # fp32: exporters reorder float ops, diffs measured here are ~1e-6
NOTE_TORCHSCRIPT = ("TorchScript (torch.jit.trace/script) is deprecated upstream in favour of torch.export; "
                    "prefer --to exported-program or --to onnx for new deployments")
NOTE_PT2 = ("loading a .pt2 (torch.export.load) uses pickle in torch 2.13 and is not weights-only safe: "
            "load only artifacts you trust")
NOTE_PT2_RNN = ("the LSTM/GRU layers run as a torch.export while_loop, one step at a time: correct, but run eagerly "
                "(torch.export.load(...).module()) it is far slower than eager PyTorch (measured 30-140x on crnn-ctc); "
                "use --to onnx for serving")



def export_model(source, to: str, out, *, mode: str = "trace", opset: int = 17, exporter: str = "auto",
                 validation_data=None, max_validation_utts: int = 32, atol: float = DEFAULT_ATOL,
                 threads: int | None = None, loop: str = "step", layout: str = "auto",
                 overwrite: bool = False) -> Artifact:
    """Export the pytorch artifact `source` (path, `zoo:NAME` or Artifact) to format `to` at `out`.

    `mode` (trace|script) applies to torchscript; `opset` and `exporter` (auto|dynamo|legacy) to onnx.
    `validation_data` is a manifest of real data (default: the task's bundled evaluation set); the first
    `max_validation_utts` items are used. `threads` sets torch's and onnxruntime's intra-op threads (default:
    torch's current setting). `loop` (attention TTS models): "step" exports the decoder step and the driver
    loops over it; "graph" puts the loop in the graph (Tacotron 2, onnx only). `layout` (auto|native|planar)
    picks the form traced for models that have a planar one (`ExportConfig.export_form`). Raises SpeechoptError,
    writing nothing, when export or validation fails.
    """
    if loop not in ("step", "graph"):
        raise SpeechoptError(f"unknown --loop {loop!r}; choose step or graph")
    if loop == "graph" and to != "onnx":
        raise SpeechoptError("--loop graph exports to onnx (an ONNX Loop); use --to onnx")
    if layout not in LAYOUTS:
        raise SpeechoptError(f"unknown --layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if to not in SUFFIXES:
        raise SpeechoptError(f"cannot export to {to!r}; choose one of {', '.join(SUFFIXES)}")
    if to == "torchscript" and mode not in TORCHSCRIPT_MODES:
        raise SpeechoptError(f"unknown TorchScript mode {mode!r}; choose trace or script")
    if to == "onnx" and exporter not in ONNX_EXPORTERS:
        raise SpeechoptError(f"unknown ONNX exporter {exporter!r}; choose one of {', '.join(ONNX_EXPORTERS)}")
    if not atol >= 0:
        raise SpeechoptError(f"atol must be a number >= 0, got {atol}")
    if max_validation_utts < 1:
        raise SpeechoptError(f"max_validation_utts must be at least 1, got {max_validation_utts}")
    if threads is not None and threads < 1:
        raise SpeechoptError(f"threads must be a positive integer, got {threads}")
    artifact = _load_source(source)
    out = Path(out)
    if out.exists() and not overwrite:
        raise SpeechoptError(f"{out} already exists (use --overwrite to replace it)")
    if to == "onnx":
        _require_onnx()
    import torch

    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.models.registry import get_architecture
    from speechopt.tasks import task_of

    # The exported graphs run with as many threads as the source, so neither oversubscribes a busy machine.
    runner_threads = int(threads) if threads else torch.get_num_threads()
    task = task_of(artifact)
    data_path = _validation_manifest(validation_data, task)
    data = task.load_data(artifact, data_path, max_items=max_validation_utts, progress="validation data")
    arch = artifact.architecture["name"]
    source_manifest = {**artifact.manifest, "export_loop": loop} if loop != "step" else artifact.manifest
    config = get_architecture(arch).export_config(source_manifest)
    model = load_pytorch_model(artifact)
    modules = config.modules(model)
    graphs = config.graphs()
    files = {g: config.graph_file(g, SUFFIXES[to]) for g in graphs}

    manifest = inherited_fields(artifact.manifest)
    if loop != "step":
        manifest["export_loop"] = loop  # the export config of this artifact's graphs reads it back
    manifest.update(format=to, graphs={g: graph_entry(files[g], *graphs[g]) for g in graphs},
                    versions=library_versions(*(("onnx", "onnxruntime", "onnxscript") if to == "onnx" else ())))
    settings = {"to": to, "atol": atol, "threads": runner_threads, "validation_data": str(data_path),
                "max_validation_utts": max_validation_utts, "loop": loop, "layout": layout}
    if to == "torchscript":
        settings["mode"] = mode
    if to == "onnx":
        settings.update(opset=opset, exporter=exporter)

    with tempfile.TemporaryDirectory(prefix="speechopt-export-") as tmp:
        candidate = Artifact(Path(tmp), {**manifest, "files": {f: {"sha256": "", "bytes": 0} for f in files.values()}})
        infos = {}
        for graph in graphs:
            form = config.export_form(graph, modules[graph], to, layout)
            infos[graph] = _export_graph(to, graph, modules[graph], form, config, Path(tmp) / files[graph],
                                         candidate, mode, opset, exporter, arch, atol, runner_threads)
        result = task.validate_export(artifact, candidate, data, atol, runner_threads)
        result["data"] = str(data_path)
        info = infos["model"] if list(infos) == ["model"] else {"graphs": infos}
        manifest["export"] = info
        manifest["validation"] = result
        notes = {"torchscript": [NOTE_TORCHSCRIPT], "exported-program": [NOTE_PT2]}.get(to, [])
        if any(i.get("rnn_while_loop_decomposition") for i in infos.values()):
            notes.append(NOTE_PT2_RNN)
        if notes:
            manifest["notes"] = notes
        writers = {f: (lambda p, src=Path(tmp) / f: shutil.move(str(src), str(p))) for f in files.values()}
        return write_artifact(out, manifest, writers, parent=artifact, step="export", settings=settings,
                              overwrite=overwrite)


def _export_graph(to, graph, module, form, config, path, candidate, mode, opset, exporter, arch, atol,
                  threads) -> dict:
    """Export one graph to `path` from `form`, the (module traced, note) of `module`'s export form, and check it
    on unseen shapes against `module`; returns its manifest record."""
    inputs, outputs = config.graphs()[graph]
    names = ([t["name"] for t in inputs], [t["name"] for t in outputs])
    dynamic_axes = {k: {int(a): d for a, d in v.items()} for k, v in candidate.graph(graph)["dynamic_axes"].items()}
    example = config.example_inputs(graph)
    traced, form_note = form

    def check_dynamic() -> list[dict]:  # against the module as trained, not the traced form
        return validation.check_dynamic_shapes(module, config, graph, candidate, atol, threads)

    if to == "torchscript":
        info = exporters.torchscript(traced, example, path, mode, arch)
        info["dynamic_shape_check"] = check_dynamic()
    elif to == "onnx":
        order, reason = ([exporter], "requested") if exporter != "auto" else config.onnx_exporters(traced)
        info = exporters.onnx(traced, example, path, opset, order, reason, exporter, arch, names, dynamic_axes,
                              config.dynamic_shapes(graph, example), check_dynamic)
    else:
        info = exporters.exported_program(traced, example, path, arch, config.dynamic_shapes(graph, example))
        try:
            info["dynamic_shape_check"] = check_dynamic()
        except SpeechoptError as exc:
            raise SpeechoptError(f"torch.export cannot keep the batch and time axes dynamic for {arch} "
                                 f"({exc}); export with --to onnx instead") from None
    if form_note:
        info["export_form"] = form_note
    info["example_shapes"] = {n: list(t.shape) for n, t in zip(names[0], example)}
    if config.min_steps(graph) is not None:
        info["min_frames"] = config.min_steps(graph)  # the time axis' lower bound; TensorRT profiles respect it
    return info


def _load_source(source) -> Artifact:
    if isinstance(source, Artifact):
        artifact = source
    else:
        from speechopt.zoo import resolve

        artifact = load_artifact(resolve(source))
    if artifact.format != "pytorch":
        raise SpeechoptError(f"{artifact.path}: export needs a pytorch artifact as source, this one is "
                             f"{artifact.format} (export from its pytorch parent instead)")
    return artifact


def _validation_manifest(validation_data, task) -> Path:
    """The manifest given, or the task's bundled evaluation set (ASR: zoo:eval; TTS: zoo:tts-eval)."""
    from speechopt.zoo import resolve

    path = resolve(validation_data if validation_data is not None else task.default_data)
    if not path.exists():
        if validation_data is None:
            raise SpeechoptError(f"no validation data: pass a manifest (--validation-data); the bundled "
                                 f"{task.default_data} is not installed")
        raise SpeechoptError(f"{path}: validation manifest not found")
    return path


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401  (imported only to fail early with one clear line)
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        from speechopt.errors import BackendUnavailable

        raise BackendUnavailable(f"ONNX export needs onnx and onnxruntime ({exc.name} is missing); "
                                 "pip install 'speechopt[onnx]'") from None
