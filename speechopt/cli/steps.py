"""`speechopt export | quantize | prune | distill`: each artifact -> artifact, with lineage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from speechopt.cli import app, command
from speechopt.cli.options import kv_option, parse_kv, threads_option, to_stderr
from speechopt.errors import SpeechoptError


@command(app, "export")
def export_cmd(
    artifact: str = typer.Argument(..., help="A pytorch ASR or TTS artifact (or zoo:NAME)."),
    to: str = typer.Option(..., "--to", help="torchscript, onnx or exported-program (torch.export)."),
    out: Path = typer.Option(..., "--out", "-o", help="Artifact folder to write."),
    mode: str = typer.Option("trace", help="torchscript: trace or script."),
    opset: int = typer.Option(17, help="onnx: opset version."),
    exporter: str = typer.Option("auto", help="onnx: auto, dynamo or legacy (auto tests and falls back)."),
    validation_data: Optional[str] = typer.Option(None, help="Real data the export is validated on (default: the "
                                                  "task's evaluation set, zoo:eval or zoo:tts-eval)."),
    max_validation_utts: int = typer.Option(32, help="Utterances (sentences) used for validation."),
    loop: str = typer.Option("step", help="Attention TTS models: step (the decoder step is a graph, the loop runs in "
                             "Python, every backend) or graph (Tacotron 2: the whole loop in one ONNX graph)."),
    layout: str = typer.Option("auto", help="Conv ASR models with a planar form (separable-ctc): native (3-D "
                               "tensors), planar ((N, C, 1, T): ONNX Runtime's NCHWc kernels) or auto (planar for "
                               "onnx)."),
    atol: float = typer.Option(1e-3, help="Largest allowed |difference| against PyTorch (ASR: log-probs; TTS: each "
                               "graph on unseen shapes and the first decoder step; whole mels have fixed limits)."),
    threads: Optional[int] = threads_option(),
    overwrite: bool = typer.Option(False),
) -> None:
    """Export to TorchScript, ONNX or torch.export.

    Dynamic batch and time axes; validated against PyTorch before it is accepted.
    """
    from speechopt.steps.export import export_model
    from speechopt.zoo import resolve

    art = export_model(resolve(artifact), to, out, mode=mode, opset=opset, exporter=exporter,
                       validation_data=resolve(validation_data) if validation_data else None,
                       max_validation_utts=max_validation_utts,
                       atol=atol, threads=threads, loop=loop, layout=layout, overwrite=overwrite)
    v = art.manifest.get("validation", {})
    how = art.manifest.get("export", {}).get("exporter", art.format)
    typer.echo(f"wrote {out} ({art.format} via {how}): max |diff| {v.get('max_abs_diff', float('nan')):.2e} "
               f"on {v.get('utterances', '?')} items" + (f", transcripts identical: {v['transcripts_equal']}"
                                                        if "transcripts_equal" in v else ""))


AGREEMENT = [("max_abs_diff", "max |diff|", ".4f"), ("identical_transcripts", "identical transcripts", ".0%"),
             ("mcd_db", "MCD dB", ".3f"), ("same_length", "same length", ".0%")]


@command(app, "quantize")
def quantize_cmd(
    artifact: str = typer.Argument(..., help="An onnx (any method) or pytorch (dynamic) ASR or TTS artifact."),
    out: Path = typer.Option(..., "--out", "-o", help="Artifact folder to write."),
    method: str = typer.Option("dynamic", help="dynamic (int8 weights), static (int8 QDQ, calibrated) or fp16."),
    weight_type: str = typer.Option("qint8", help="dynamic: qint8 or quint8."),
    per_channel: bool = typer.Option(False, help="Per-channel weight scales."),
    activation_type: str = typer.Option("qint8", help="static: qint8 (symmetric, TensorRT's contract) or quint8 "
                                        "(asymmetric; ONNX Runtime's fast u8s8 CPU kernels)."),
    op_types: Optional[list[str]] = typer.Option(None, "--op-type", metavar="<op>",
                                                 help="Op types to quantize (repeatable; default by method)."),
    calibration_data: Optional[str] = typer.Option(None, help="static: manifest of real utterances to calibrate on."),
    calibration_size: int = typer.Option(64, help="static: utterances used, spread over the length distribution."),
    calibrate_method: str = typer.Option("minmax", help="static: minmax, percentile (99.999th, 2048 bins) or "
                                         "entropy (KL over 2048 bins, as TensorRT's calibrator)."),
    fp16_ops: Optional[list[str]] = typer.Option(None, "--fp16-op", metavar="<op>",
                                                 help="fp16: op types computed in float16 (repeatable)."),
    graph: Optional[list[str]] = typer.Option(None, "--graph", metavar="<name>",
                                              help="Quantize only this graph (repeatable; default: every graph), "
                                                   "e.g. --graph decoder_step: the others stay float."),
    validation_data: Optional[str] = typer.Option(None, help="Data the result is checked on (default: the task's "
                                                  "evaluation set)."),
    overwrite: bool = typer.Option(False),
) -> None:
    """Quantize to dynamic int8, static int8 (QDQ) or fp16.

    Static int8 is the QDQ form TensorRT takes. The result is validated on CPU before it is written.
    """
    from speechopt.steps.quantize import QuantizeSettings, quantize
    from speechopt.zoo import resolve

    settings = QuantizeSettings(method=method, weight_type=weight_type, per_channel=per_channel,
                                activation_type=activation_type,
                                op_types=op_types or [], calibration_data=str(resolve(calibration_data)) if calibration_data else None,
                                calibration_size=calibration_size, calibrate_method=calibrate_method,
                                fp16_ops=fp16_ops or [], graphs=graph or [])
    art = quantize(resolve(artifact), out, settings,
                   validation_data=str(resolve(validation_data)) if validation_data else None, overwrite=overwrite)
    v = art.manifest["validation"]
    # what agreement means is the task's: ASR counts identical transcripts, TTS mel distances
    shown = [(k, label, spec) for k, label, spec in AGREEMENT if v.get(k) is not None]
    typer.echo(f"wrote {out}: {art.manifest['quantization']['method']} ({art.format}), {art.size_bytes() / 1e6:.2f} MB; "
               f"on {v['utterances']} items: " + ", ".join(f"{label} {format(v[k], spec)}" for k, label, spec in shown))


@command(app, "prune")
def prune_cmd(
    artifact: str = typer.Argument(..., help="A pytorch ASR artifact (or zoo:NAME)."),
    out: Path = typer.Option(..., "--out", "-o", help="Artifact folder to write."),
    amount: float = typer.Option(..., help="Fraction to remove, in [0, 1)."),
    structured: bool = typer.Option(False, help="Remove whole channels/units and rebuild layers smaller (faster)."),
    scope: str = typer.Option("global", help="Unstructured: one global threshold, or per layer."),
    finetune_steps: int = typer.Option(0, min=0, help="Fine-tune this many steps after pruning (needs --data)."),
    data: Optional[str] = typer.Option(None, help="Training manifest for fine-tuning."),
    val_data: Optional[str] = typer.Option(None, help="Validation manifest for fine-tuning (held out: not the data you report on)."),
    lr: float = typer.Option(5e-4, help="Fine-tuning peak learning rate."),
    threads: Optional[int] = threads_option(),
    overwrite: bool = typer.Option(False),
) -> None:
    """Prune by magnitude or by structure, then optionally fine-tune.

    A short fine-tuning (--finetune-steps) recovers WER; it runs the recipe steps `prune` then `finetune`.
    """
    from speechopt.steps.prune import PruneSettings
    from speechopt.steps.registry import FinetuneSettings, StepContext, run_chain

    if finetune_steps and not (data and val_data):
        # the best checkpoint is picked on --val-data: defaulting it to the evaluation set would tune on the test
        raise SpeechoptError("--finetune-steps needs --data (a training manifest) and --val-data (a held-out one)")
    from speechopt.zoo import resolve

    chain = [("prune", PruneSettings(amount=amount, structured=structured, scope=scope))]
    if finetune_steps:
        chain.append(("finetune", FinetuneSettings(data=data, val_data=val_data, lr=lr, max_steps=finetune_steps,
                                                   threads=threads)))
    art = run_chain(chain, resolve(artifact), out, StepContext(log=to_stderr, overwrite=overwrite))
    info = art.manifest["metrics"].get("prune") or {}
    typer.echo(f"wrote {out}: {json.dumps(info) if info else 'pruned and fine-tuned'}")


@command(app, "distill")
def distill_cmd(
    teacher: str = typer.Argument(..., help="Teacher: a pytorch ASR artifact (or zoo:NAME)."),
    student_arch: Optional[str] = typer.Option(None, help="Student architecture (cnn-ctc, lstm-ctc, crnn-ctc, separable-ctc)."),
    student_config: Optional[list[str]] = kv_option("--student-config", "Student option k=v (repeatable)."),
    data: str = typer.Option(..., help="Training manifest."),
    val_data: str = typer.Option(..., help="Validation manifest (held out: the best checkpoint is picked on it)."),
    out: Path = typer.Option(..., "--out", "-o"),
    temperature: float = typer.Option(2.0, help="Softening temperature of both posteriors."),
    alpha: float = typer.Option(0.5, help="Weight of the KL term (1 - alpha weighs CTC)."),
    epochs: Optional[int] = typer.Option(None),
    max_steps: Optional[int] = typer.Option(None),
    time_budget: Optional[float] = typer.Option(None, help="Minutes."),
    val_every: float = typer.Option(5.0, help="Minutes between validations in a time-budgeted run."),
    lr: float = typer.Option(2e-3),
    init_from: Optional[str] = typer.Option(None, help="Start the student from these weights (e.g. a structured-pruned "
                                            "teacher); its architecture and configuration become the student's."),
    average: int = typer.Option(1, help="Average the N best validation checkpoints at the end (kept only if no worse)."),
    precision: str = typer.Option("fp32", help="fp32, or bf16: the student's and teacher's forward passes under "
                                  "CPU autocast (faster on CPUs with AMX or AVX-512 BF16; losses stay fp32)."),
    seed: int = typer.Option(0),
    threads: Optional[int] = threads_option(),
    resume: bool = typer.Option(False),
    overwrite: bool = typer.Option(False),
) -> None:
    """Train a smaller student from a teacher.

    CTC + KL on frame posteriors; the student keeps lineage.
    """
    from speechopt.steps.distill import DistillSettings, distill
    from speechopt.train import TrainSettings
    from speechopt.zoo import resolve

    ts = TrainSettings(arch=student_arch, lr=lr, epochs=epochs, max_steps=max_steps, time_budget_min=time_budget,
                       val_every_min=val_every, seed=seed, threads=threads, average=average, precision=precision,
                       init_from=str(resolve(init_from)) if init_from else None)
    settings = DistillSettings(student_arch, parse_kv(student_config), temperature, alpha)
    art = distill(resolve(teacher), settings, ts, resolve(data), resolve(val_data), out, resume=resume,
                  overwrite=overwrite, log=to_stderr)
    m = art.manifest["metrics"]
    typer.echo(f"wrote {out}: validation WER {m['val_wer']:.2%}, CER {m['val_cer']:.2%}")
