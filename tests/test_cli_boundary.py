"""The console scripts' boundary (nequip.utils.cli): user errors are one line with exit code 2,
bugs keep their traceback, and --quiet / --verbose set what the library's log messages show."""

import logging
import subprocess
import sys

import pytest

from nequip.errors import ConfigError, DataFileNotFound
from nequip.utils.cli import cli_parser, run_cli

_log = logging.getLogger("nequip.tests.cli")


def _run(argv, body):
    return run_cli("nequip-x", body, cli_parser("nequip-x").parse_args(argv))


@pytest.mark.parametrize("error", [ConfigError("model.r_max must be > 0"), DataFileNotFound("data file 'a.xyz' not found")])
def test_user_error_is_one_line_exit_2(error, capsys, monkeypatch):
    monkeypatch.delenv("NEQUIP_DEBUG", raising=False)

    def body():
        raise error

    assert _run([], body) == 2
    assert capsys.readouterr().err == f"nequip-x: error: {error}\n"


def test_user_error_traceback_with_nequip_debug(monkeypatch):
    monkeypatch.setenv("NEQUIP_DEBUG", "1")

    def body():
        raise ConfigError("bad key")

    with pytest.raises(ConfigError, match="bad key"):
        _run([], body)


@pytest.mark.parametrize("bug", [ValueError("shape mismatch"), FileNotFoundError("internal.bin"), KeyError("x")])
def test_a_bug_keeps_its_traceback(bug, monkeypatch):
    monkeypatch.delenv("NEQUIP_DEBUG", raising=False)

    def body():
        raise bug

    with pytest.raises(type(bug)):
        _run([], body)


@pytest.mark.parametrize("argv, shown", [([], {"info", "warning"}), (["-q"], {"warning"}), (["--verbose"], {"debug", "info", "warning"})])
def test_quiet_and_verbose(argv, shown, capsys):
    def body():
        _log.debug("debug")
        _log.info("info")
        _log.warning("warning")
        return 0

    assert _run(argv, body) == 0
    assert set(capsys.readouterr().err.split()) == shown


def test_quiet_and_verbose_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_parser("nequip-x").parse_args(["-q", "-v"])
    assert exit_.value.code == 2


def test_the_library_configures_no_logging():
    code = (
        "import logging, warnings\n"
        "import ase.io, h5py, lightning, omegaconf, torch  # these change the filters themselves\n"
        "filters = list(warnings.filters)\n"
        "import nequip.scripts.train, nequip.integrations.ase, allegro\n"
        "assert not logging.getLogger().handlers and not logging.getLogger('nequip').handlers\n"
        "assert logging.getLogger('nequip').level == logging.NOTSET\n"
        "assert warnings.filters == filters, 'importing the library changed the warning filters'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", ["train", "evaluate", "data", "benchmark", "compile", "package"])
def test_help_is_plain_text_and_every_option_says_what_it_does(script, capsys):
    import importlib

    main = importlib.import_module(f"nequip.scripts.{script}").main
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text
    lines = text.splitlines()
    options = [i for i, line in enumerate(lines) if line.startswith("  -")]
    assert options
    for i in options:  # the help follows the flags on the same line, or indented on the next one
        has_help = len(lines[i].strip().split("  ")) > 1 or lines[i + 1].startswith(" " * 10)
        assert has_help, f"nequip-{script}: option without help: {lines[i].strip()}"
