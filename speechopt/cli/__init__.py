"""The speechopt command line: one thin command per library function, one module per command group.

This module holds the app, the global options and the `command` decorator through which every command
is registered: a `SpeechoptError` becomes one `error: ...` line on stderr and its exit code (see
EXIT_CODES); `--debug` (before or after the subcommand, or SPEECHOPT_DEBUG=1) shows the traceback.
Command modules import nothing heavy at module level, so `speechopt --help` stays instant.
"""

from __future__ import annotations

import functools
import inspect
import os
from importlib.metadata import PackageNotFoundError, version

import typer

from speechopt.cli.logs import configure_logging
from speechopt.errors import SpeechoptError

# \b keeps Click from re-wrapping these lines into one paragraph.
EXIT_CODES = """\b
Exit codes:
  0    success
  1    bad input, or a failure while running: one `error:` line
       (--debug shows the traceback)
  2    usage error: an unknown or missing option, or a value of the wrong
       type or out of range (Click's message)
  3    a budget was broken (bench, run): one `budget broken:` line each
  130  interrupted"""

# rich_markup_mode=None: Click's plain help formatter. Typer's rich panels cut long option names at 80
# columns (`--calibration-d…`) and tag every flag with a type (`<bool>`); Click's formatter does neither.
app = typer.Typer(
    help="Export, compress and benchmark trained speech models, and measure what each step costs.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

_FLAGS = "speechopt.flags"  # ctx.meta key: the global flags of this invocation (meta is per invocation)


def _package_version() -> str:
    try:
        return version("speechopt")
    except PackageNotFoundError:  # running from a source tree that was never installed
        from speechopt import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"speechopt {_package_version()}")
        raise typer.Exit()


def _flags(ctx: typer.Context) -> dict:
    return ctx.meta.setdefault(_FLAGS, {"debug": False, "verbose": False})


def _set_flags(ctx: typer.Context, debug: bool, verbose: bool) -> dict:
    flags = _flags(ctx)
    flags["debug"] = flags["debug"] or debug
    flags["verbose"] = flags["verbose"] or verbose
    configure_logging(verbose=flags["verbose"], debug=flags["debug"])
    return flags


def _debug_enabled(flags: dict) -> bool:
    return flags["debug"] or os.environ.get("SPEECHOPT_DEBUG", "") not in ("", "0")


DEBUG_HELP = "Show tracebacks (also SPEECHOPT_DEBUG=1) and other libraries' log lines."
VERBOSE_HELP = "Also show other libraries' log lines (ONNX Runtime, ...)."


@app.callback()
def _global_options(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=VERBOSE_HELP),
    show_version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                      help="Print the version and exit."),
) -> None:
    _set_flags(ctx, debug, verbose)


# Every command also takes --debug and -v after its name (`speechopt eval X --debug`): the wrapper adds
# these two parameters (and the context, which carries the flags of this invocation) to the command's
# signature, which is what Typer reads options from.
_COMMAND_FLAGS = [
    inspect.Parameter("speechopt_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
    inspect.Parameter("speechopt_debug", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                      default=typer.Option(False, "--debug", help=DEBUG_HELP)),
    inspect.Parameter("speechopt_verbose", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                      default=typer.Option(False, "--verbose", "-v", help=VERBOSE_HELP)),
]


def command(group: typer.Typer, name: str | None = None):
    """Register a command whose SpeechoptError becomes one line on stderr and an exit code."""

    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, speechopt_ctx: typer.Context, speechopt_debug: bool = False, speechopt_verbose: bool = False,
                **kwargs):
            flags = _set_flags(speechopt_ctx, speechopt_debug, speechopt_verbose)
            try:
                return fn(*args, **kwargs)
            except SpeechoptError as exc:
                if _debug_enabled(flags):
                    raise
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(exc.exit_code) from None
            except KeyboardInterrupt:
                typer.echo("interrupted", err=True)
                raise typer.Exit(130) from None

        signature = inspect.signature(fn, eval_str=True)
        params = list(signature.parameters.values())
        run.__signature__ = signature.replace(parameters=params + _COMMAND_FLAGS)
        run.__annotations__ = {**{p.name: p.annotation for p in params},
                               **{p.name: p.annotation for p in _COMMAND_FLAGS}}
        return group.command(name)(run)

    return decorate


# The command modules register themselves on `app` when imported; the order sets `--help`'s listing.
from speechopt.cli import data, train, asr, tts, steps, bench, zoo, gpu, hf  # noqa: E402,F401,I001


def main() -> None:
    app()
