"""Compiled packages shared by the tests of this folder (AOT compiles are the slow part)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(scope="session")
def small_pt2(tmp_path_factory):
    """``{target: (path, model)}`` factory of .nequip.pt2 packages of helpers.small_model()."""
    from helpers import small_model

    from nequip.export.aoti import compile_model

    folder = tmp_path_factory.mktemp("pt2")
    made = {}

    def make(target):
        if target not in made:
            path = str(folder / f"small_{target}.nequip.pt2")
            compile_model(small_model(), small_model().spec, path, target=target)
            made[target] = path
        return made[target]

    return make
