"""Compiled packages shared by the tests of this folder (AOT compiles are the slow part)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(scope="session")
def small_pt2(tmp_path_factory):
    """``make(target, tp_backend="reference")`` -> path of a .nequip.pt2 of helpers.small_model(tp_backend=...)."""
    from helpers import small_model

    from nequip.export.aoti import compile_model

    folder = tmp_path_factory.mktemp("pt2")
    made = {}

    def make(target, tp_backend="reference"):
        if (target, tp_backend) not in made:
            path = str(folder / f"small_{target}_{tp_backend}.nequip.pt2")
            model = small_model(tp_backend=tp_backend)
            compile_model(model, model.spec, path, target=target)
            made[target, tp_backend] = path
        return made[target, tp_backend]

    return make
