"""`speechopt eval` and `speechopt transcribe`: an artifact of any format through its task and runners."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from speechopt.cli import app, command
from speechopt.cli.options import threads_option, write_json

DEVICE_HELP = "cpu or cuda; tensorrt for engines (ONNX Runtime's TensorRT provider for onnx)."


@command(app, "eval")
def eval_cmd(
    artifact: str = typer.Argument(..., help="Artifact folder or zoo:NAME, any format."),
    data: Optional[str] = typer.Option(None, help="Manifest (or zoo:NAME); default: the task's bundled set, "
                                       "zoo:eval (ASR) or zoo:tts-eval (TTS)."),
    batch_size: int = typer.Option(1, min=1, help="Utterances per call; 1 gives the bench's figures (larger "
                                   "batches are faster but pad, which changes a bidirectional LSTM's output)."),
    max_utterances: Optional[int] = typer.Option(None, min=1, help="Use only the first N utterances."),
    device: str = typer.Option("cpu", help=DEVICE_HELP),
    threads: Optional[int] = threads_option("Intra-op threads of the runtime."),
    decoder: str = typer.Option("greedy", help="greedy (best path), or lexicon (beam search spelling only known words)."),
    lexicon: Optional[Path] = typer.Option(None, help="lexicon: word list, whitespace-separated (default: the corpus vocabulary)."),
    beam: int = typer.Option(16, min=1, help="lexicon: beam width."),
    chunk_ms: Optional[float] = typer.Option(None, help="ASR: also recognize in chunks of this many ms (streaming), "
                                             "beside whole utterances, and report the WER cost."),
    left_ms: float = typer.Option(2000.0, help="With --chunk-ms: past audio each chunk sees."),
    right_ms: float = typer.Option(160.0, help="With --chunk-ms: lookahead past each chunk's end."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write results as JSON here."),
) -> None:
    """Score an artifact on a manifest: WER/CER (ASR), round-trip WER and alignment (TTS).

    Works on pytorch, torchscript, exported-program, onnx and tensorrt artifacts through the same runners
    as `bench`. WER and CER are computed after the text normalization printed with them. A TTS artifact
    synthesizes the manifest's texts, vocodes them with Griffin-Lim and transcribes them with zoo:crnn-ctc.
    A vocoder artifact (WaveNet) is scored by copy synthesis: it vocodes the mels of the manifest's own
    audio, beside Griffin-Lim of the same mels.
    """
    from speechopt.evaluate import evaluate_artifact
    from speechopt.zoo import resolve

    from speechopt.tasks import get_task

    if chunk_ms is not None:  # streaming: chunked beside whole-utterance inference, one line
        from speechopt.artifact import load_artifact
        from speechopt.tasks.asr.chunked import ChunkSettings, evaluate_chunked

        art = load_artifact(resolve(artifact))
        r = evaluate_chunked(art, resolve(data or "zoo:eval"), ChunkSettings(chunk_ms, left_ms, right_ms),
                             threads=threads or 1, max_items=max_utterances)
        typer.echo(f"{r['artifact']} ({art.format}): chunked WER {r['chunked']['wer']:.2%} (whole utterances "
                   f"{r['whole']['wer']:.2%}, {r['wer_cost'] * 100:+.2f} points); {chunk_ms:.0f} ms chunks, "
                   f"{left_ms:.0f} ms past, {right_ms:.0f} ms lookahead: {r['algorithmic_latency_ms']:.0f} ms "
                   f"latency + {r['window_ms']['p50']:.1f} ms a window (p50)  ({r['utterances']} utterances)")
        write_json(json_out, r)
        return
    result = evaluate_artifact(resolve(artifact), resolve(data) if data else None, batch_size=batch_size, threads=threads,
                               device=device, max_items=max_utterances, decoder=decoder, lexicon=lexicon, beam=beam)
    if result["task"] == "vocoder":
        from speechopt.tasks.tts.vocoder_eval import describe_vocoder_eval

        described = describe_vocoder_eval(result)
    else:
        described = get_task(result["task"]).describe_score(result)
    typer.echo(f"{result['artifact']} ({result['format']}): {described}")
    write_json(json_out, result)


@command(app, "transcribe")
def transcribe_cmd(
    artifact: str = typer.Argument(..., help="Artifact folder or zoo:NAME, any format."),
    audio: list[Path] = typer.Argument(..., metavar="AUDIO", help="Audio files (wav, flac, ...; any rate: "
                                       "resampled; stereo: downmixed)."),
    device: str = typer.Option("cpu", help=DEVICE_HELP),
    threads: Optional[int] = threads_option("Intra-op threads of the runtime."),
    decoder: str = typer.Option("greedy", help="greedy, or lexicon (only words of a word list)."),
    lexicon: Optional[Path] = typer.Option(None, help="lexicon: word list (default: the corpus vocabulary)."),
    beam: int = typer.Option(16, min=1, help="lexicon: beam width."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results instead of text lines."),
) -> None:
    """Print the text of each audio file, with the model's time for it.

    One line per file: the file, its text, the model's time (features excluded) and RTFx (audio seconds
    per second of model time).
    """
    import json

    from speechopt.evaluate import transcribe_files
    from speechopt.zoo import resolve

    result = transcribe_files(resolve(artifact), audio, threads=threads, device=device, decoder=decoder,
                              lexicon=lexicon, beam=beam)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for r in result["results"]:
        typer.echo(f"{r['file']}: {r['text']}")
        typer.echo(f"  {r['audio_seconds']:.2f} s of audio in {r['seconds'] * 1000:.1f} ms (RTFx {r['rtfx']:.0f})",
                   err=True)
