"""Every module imports, and every command's --help works, without optional packages being imported."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

import speechopt

MODULES = sorted(m.name for m in pkgutil.walk_packages(speechopt.__path__, "speechopt."))
HEAVY = ("torch", "onnx", "onnxruntime", "tensorrt", "torch_tensorrt", "transformers", "matplotlib", "scipy")


@pytest.mark.parametrize("module", MODULES)
def test_module_imports(module):
    importlib.import_module(module)


def test_cli_help_imports_no_heavy_module():
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom speechopt.cli import app\n"
        "for args in (['--help'], ['--version'], ['bench', '--help'], ['quantize', '--help'], ['run', '--help']):\n"
        "    r = CliRunner().invoke(app, args); assert r.exit_code == 0, r.output\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at --help: {out.stdout}"


def _commands(app, prefix=()):
    """Every command path, from Typer's public registration lists."""
    paths = [prefix]
    for c in app.registered_commands:
        paths.append(prefix + ((c.name or c.callback.__name__.replace("_", "-")),))
    for g in app.registered_groups:
        paths += _commands(g.typer_instance, prefix + (g.name,))
    return paths


def test_every_command_help():
    from typer.testing import CliRunner

    from speechopt.cli import app

    paths = _commands(app)
    assert len(paths) > 5
    for path in paths:
        r = CliRunner().invoke(app, [*path, "--help"])
        assert r.exit_code == 0, (path, r.output)
