import importlib
import subprocess
import sys

import pytest

import fedgs_lite


def test_every_public_name_resolves_to_its_module():
    for name, module in fedgs_lite._EXPORTS.items():
        assert getattr(fedgs_lite, name) is getattr(importlib.import_module(f"fedgs_lite.{module}"), name)


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        fedgs_lite.nope  # noqa: B018


def test_import_stays_light():
    code = ("import sys, fedgs_lite, fedgs_lite.availability, fedgs_lite.solvers, fedgs_lite.experiment; "
            "print(sorted(m for m in ('torch', 'cvxpy', 'ipywidgets', 'papermill') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "fedgs_lite", "--help"], capture_output=True, text=True,
                         check=True)
    for command in ("run", "simulate", "reproduce"):
        assert command in out.stdout


def test_no_public_name_is_shadowed_by_a_submodule():
    import pkgutil

    submodules = {m.name for m in pkgutil.iter_modules(fedgs_lite.__path__)}
    assert not submodules & set(fedgs_lite._EXPORTS)


def test_cli_turns_ctrl_c_into_a_message_and_exit_code_130(monkeypatch, capsys):
    from fedgs_lite import cli, simulate

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(simulate, "main", interrupted)
    assert cli.main(["simulate"]) == 130
    assert "run the same command again to continue" in capsys.readouterr().err
