"""`speechopt import-hf`: a Hugging Face wav2vec2 CTC folder as a pytorch artifact (needs speechopt[hf])."""

from __future__ import annotations

from pathlib import Path

import typer

from speechopt.cli import app, command
from speechopt.cli.options import to_stderr


@command(app, "import-hf")
def import_hf_cmd(
    folder: Path = typer.Argument(..., help="A local folder written by Wav2Vec2ForCTC.save_pretrained() and "
                                            "Wav2Vec2Processor.save_pretrained() (hub names are not fetched)."),
    out: Path = typer.Option(..., "--out", "-o", help="Artifact folder to write."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Import a Hugging Face wav2vec2 CTC model.

    Writes a pytorch artifact: then eval, export, quantize, bench it.
    """
    from speechopt.models.hf_import import import_hf_wav2vec2

    art = import_hf_wav2vec2(folder, out, overwrite=overwrite, log=to_stderr)
    config = art.architecture["config"]
    from speechopt.tasks.asr import frontend_config
    from speechopt.tasks.asr import tokenizer as asr_tokenizer

    frontend, tokenizer = frontend_config(art), asr_tokenizer(art)
    letters = sum(1 for ch in tokenizer.vocabulary if ch)
    typer.echo(f"wrote {out}: {art.architecture['name']} ({config.get('num_hidden_layers')} layers, hidden "
               f"{config.get('hidden_size')}), {len(tokenizer)} tokens ({letters} characters, blank id "
               f"{tokenizer.blank_id}), {frontend.sample_rate} Hz waveform, normalize {frontend.normalize}, "
               f"{art.size_bytes() / 1e6:.1f} MB")
