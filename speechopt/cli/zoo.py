"""`speechopt zoo ...`: the bundled models and evaluation set."""

from __future__ import annotations

import json
from typing import Optional

import typer

from speechopt.cli import app, command

zoo_app = typer.Typer(help="The bundled models and evaluation set.", no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")


@command(zoo_app, "list")
def zoo_list(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List the bundled models and datasets."""
    from speechopt.zoo import list_zoo

    entries = list_zoo()
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    width = max((len(e["name"]) for e in entries), default=0)
    models = [e for e in entries if e["kind"] == "model"]
    task_w = max((len(e["task"]) for e in models), default=0)
    arch_w = max((len(e["architecture"]) for e in models), default=0)
    for e in entries:
        if e["kind"] == "model":
            m = e["metrics"]
            figure = (f"eval WER {m['eval_wer']:.2%}" if m.get("eval_wer") is not None else
                      f"round-trip WER {m['roundtrip_wer']:.2%}" if m.get("roundtrip_wer") is not None else
                      f"copy-synthesis WER {m['copy_wer']:.2%}" if m.get("copy_wer") is not None else "")
            typer.echo(f"zoo:{e['name']:<{width}} {e['task']:<{task_w}} {e['architecture']:<{arch_w}} {e['size_bytes'] / 1e6:5.1f} MB  {figure}")
        else:
            typer.echo(f"zoo:{e['name']:<{width}} dataset {e['utterances']} utterances, {e['hours']:.2f} h  {e['path']}")


@command(zoo_app, "add")
def zoo_add(
    artifact: str = typer.Argument(..., help="Artifact folder to bundle."),
    name: str = typer.Option(..., help="Zoo name (zoo:NAME)."),
    data: Optional[str] = typer.Option(None, help="Manifest to evaluate on, recorded in the manifest (default: the "
                                       "task's bundled set)."),
    overwrite: bool = typer.Option(False),
) -> None:
    """Copy an artifact into the bundled zoo (for maintainers), recording its evaluation WER."""
    from speechopt.zoo import add_to_zoo

    r = add_to_zoo(artifact, name, data, overwrite=overwrite)
    def show(key, value):  # rates as percentages, decibels as decibels
        if isinstance(value, float):
            return f"{key} {value:.2f} dB" if key.endswith("_db") else f"{key} {value:.2%}"
        return f"{key} {value}"

    figures = "  ".join(show(k, v) for k, v in r.items() if k not in ("name", "path"))
    typer.echo(f"zoo:{r['name']}: {figures}  ({r['path']})")
