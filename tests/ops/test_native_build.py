"""The shared pieces of the native builds: cache location, key, lock, publish."""

import fcntl

import pytest

from nequip.utils.native_build import build_lock, cache_dir, cache_key, private_build_dir, publish


def test_cache_dir_precedence(monkeypatch, tmp_path):
    for var in ("NEQUIP_OPS_CACHE", "NEQUIP_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("ops", "NEQUIP_OPS_CACHE") == tmp_path / "home" / ".cache" / "nequip" / "ops"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("ops", "NEQUIP_OPS_CACHE") == tmp_path / "xdg" / "nequip" / "ops"
    monkeypatch.setenv("NEQUIP_CACHE_DIR", str(tmp_path / "all"))
    assert cache_dir("ops", "NEQUIP_OPS_CACHE") == tmp_path / "all" / "ops"
    monkeypatch.setenv("NEQUIP_OPS_CACHE", str(tmp_path / "mine"))
    assert cache_dir("ops", "NEQUIP_OPS_CACHE") == tmp_path / "mine"


def test_cache_key_changes_with_sources_and_toolchain(tmp_path):
    source = tmp_path / "a.cpp"
    source.write_text("int a;")
    key = cache_key([("a.cpp", source)], "torch 1", "g++ 1")
    assert len(key) == 12 and key == cache_key([("a.cpp", source)], "torch 1", "g++ 1")
    assert key != cache_key([("a.cpp", source)], "torch 2", "g++ 1")
    source.write_text("int b;")
    assert key != cache_key([("a.cpp", source)], "torch 1", "g++ 1")


def test_lock_excludes_another_holder(tmp_path):
    target = tmp_path / "cache" / "lib.so"
    with build_lock(target):
        with open(f"{target}.lock") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(f"{target}.lock") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released


def test_private_build_dir_is_removed_and_publish_moves(tmp_path):
    target = tmp_path / "lib.so"
    with private_build_dir(target) as work:
        (work / "lib.so").write_bytes(b"built")
        publish(work / "lib.so", target)
    assert target.read_bytes() == b"built" and not work.exists()
