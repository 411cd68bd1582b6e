"""Statistics are computed by rank 0 only; other ranks read rank 0's file, never a stale one."""

import json
import threading
import time

import pytest

from nequip.errors import ConfigError
from nequip.train.statistics_handoff import FILE_NAME, shared_statistics


def test_rank0_computes_and_others_wait_for_its_file(tmp_path):
    calls = []
    results = {}

    def other_rank():
        results[1] = shared_statistics(lambda: calls.append(1), str(tmp_path), "fp", rank=1, timeout_s=30)

    thread = threading.Thread(target=other_rank)
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive()  # waiting: rank 0 has not written yet
    results[0] = shared_statistics(lambda: calls.append(0) or {"force_rms": 0.5}, str(tmp_path), "fp", rank=0)
    thread.join(timeout=10)
    assert calls == [0] and results[0] == results[1] == {"force_rms": 0.5}


def test_stale_file_of_other_data_is_not_used(tmp_path):
    (tmp_path / FILE_NAME).write_text(json.dumps({"fingerprint": "old data", "statistics": {"force_rms": 9.0}}))
    with pytest.raises(ConfigError, match="rank 1 waited"):
        shared_statistics(lambda: None, str(tmp_path), "new data", rank=1, timeout_s=1.0)
