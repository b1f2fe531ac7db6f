"""`speechopt import-hf`: a thin command over speechopt.models.hf_import.

cli.py wires it with `register(app, command)`, so its `command` decorator turns a SpeechoptError (a missing
transformers included) into one stderr line and exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import typer


def import_hf_cmd(
    folder: Path = typer.Argument(..., help="A local folder written by Wav2Vec2ForCTC.save_pretrained() and "
                                            "Wav2Vec2Processor.save_pretrained() (hub names are not fetched)."),
    out: Path = typer.Option(..., "--out", "-o", help="Artifact folder to write."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Import a Hugging Face wav2vec2 CTC model as a pytorch artifact (then eval, export, quantize, bench)."""
    from speechopt.models.hf_import import import_hf_wav2vec2

    art = import_hf_wav2vec2(folder, out, overwrite=overwrite, log=lambda m: typer.echo(m, err=True))
    config = art.architecture["config"]
    frontend, tokenizer = art.frontend(), art.tokenizer()
    letters = sum(1 for ch in tokenizer.vocabulary if ch)
    typer.echo(f"wrote {out}: {art.architecture['name']} ({config.get('num_hidden_layers')} layers, hidden "
               f"{config.get('hidden_size')}), {len(tokenizer)} tokens ({letters} characters, blank id "
               f"{tokenizer.blank_id}), {frontend.sample_rate} Hz waveform, normalize {frontend.normalize}, "
               f"{art.size_bytes() / 1e6:.1f} MB")


def register(app: typer.Typer, command: Callable) -> None:
    """Add `import-hf` to `app` with cli.py's `command(group, name)` decorator."""
    command(app, "import-hf")(import_hf_cmd)
