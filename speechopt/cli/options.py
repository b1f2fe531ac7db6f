"""Option helpers shared by the command modules (nothing heavy is imported here)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def threads_option(help: str = "Intra-op threads.") -> int | None:
    """`--threads`: a positive integer, checked by Click before any work starts (0 or -2 is a usage error)."""
    return typer.Option(None, "--threads", min=1, help=help)


def _check_kv(items: list[str] | None) -> list[str] | None:
    for item in items or []:
        if "=" not in item:
            raise typer.BadParameter(f"expected key=value, got {item!r}")
    return items


def kv_option(flag: str, help: str):
    """A repeatable `--flag key=value` option; a value without `=` is a usage error."""
    return typer.Option(None, flag, metavar="<key=value>", callback=_check_kv, help=help)


def parse_kv(items: list[str] | None) -> dict:
    """`k=v` pairs (checked by kv_option), values parsed as JSON where they parse (numbers, booleans), else strings."""
    out = {}
    for item in items or []:
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def check_int_list(text: str | None) -> str | None:
    """Option callback: comma-separated integers (`1,16`), else a usage error."""
    if text is None:
        return None
    try:
        parse_ints(text)
    except ValueError:
        raise typer.BadParameter(f"takes comma-separated integers, got {text!r}") from None
    return text


def check_thread_list(text: str | None) -> str | None:
    """Option callback: `--threads 2` or a list `1,2` of positive integers, else a usage error."""
    if text is None:
        return None
    try:
        counts = parse_ints(text)
    except ValueError:
        counts = []
    if not counts or any(t < 1 for t in counts):
        raise typer.BadParameter(f"takes a positive integer or a comma-separated list of them (1,2), got {text!r}")
    return text


def parse_threads(text: str | None) -> int | list[int] | None:
    """`2` -> 2, `1,2` -> [1, 2] (a list even of one: `1,` measures one count as a list)."""
    if text is None:
        return None
    counts = parse_ints(text)
    return counts if "," in text else counts[0]


def parse_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def write_json(path: Path | None, obj) -> None:
    if path is None:
        return
    from speechopt.io import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def to_stderr(message: str) -> None:
    """Progress lines go to stderr, so stdout carries only the result."""
    typer.echo(message, err=True)
