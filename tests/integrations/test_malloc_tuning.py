"""glibc malloc tuning is a process-wide setting: the console scripts make it by default, the ASE
calculator (a library object in the user's process) only when asked."""

import pytest

from helpers import small_model
from nequip.integrations.ase import NequIPCalculator
from nequip.utils import memory
from nequip.utils.cli import run_cli


@pytest.fixture
def tunings(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "_tune_malloc", lambda: calls.append(1) or True)
    monkeypatch.delenv("NEQUIP_MALLOC_TUNING", raising=False)
    return calls


@pytest.mark.parametrize(
    "argument, env, tuned",
    [(None, None, False), (True, None, True), (None, "1", True), (None, "0", False), (False, "1", False), (True, "0", True)],
)
def test_calculator_tunes_malloc_only_when_asked(tunings, monkeypatch, argument, env, tuned):
    if env is not None:
        monkeypatch.setenv("NEQUIP_MALLOC_TUNING", env)
    model = small_model()
    NequIPCalculator(model, model.spec, keep_freed_memory=argument)
    assert bool(tunings) == tuned


@pytest.mark.parametrize("env, tuned", [(None, True), ("1", True), ("0", False)])
def test_console_scripts_tune_malloc_by_default(tunings, monkeypatch, env, tuned):
    if env is not None:
        monkeypatch.setenv("NEQUIP_MALLOC_TUNING", env)
    assert run_cli("nequip-test", lambda: 0) == 0
    assert bool(tunings) == tuned
