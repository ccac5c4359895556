"""``donorbot run`` polls each source at its interval on its own; ``status`` and ``/metrics`` show it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.sources_support import KEY, KEY_ENV, cli
from tests.sync_fakes.opencollective import Account, FakeOpenCollective
from tests.sync_fakes.server import ServerThread
from tests.sync_support import fill_collective, oc_config, uuid_of


def _sync_state(capsys: pytest.CaptureFixture[str], config: Path) -> dict[str, Any]:
    code, out, err = cli(capsys, config, "status", "--json")
    assert code == 0, err
    [entry] = json.loads(out)["sync"]
    return dict(entry)


def _until(check: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_run_polls_the_source_at_its_interval_and_status_and_metrics_show_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    fake = FakeOpenCollective()
    fill_collective(fake, 60)
    contributions = sum(1 for t in fake.transactions if t.kind == "CONTRIBUTION" and t.type == "CREDIT")
    with ServerThread(fake.app) as server:
        config = oc_config(tmp_path, server.url, "interval_minutes = 0.02\n")
        config.write_text(config.read_text() + "\n[webhooks]\nport = 0\n", encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config), "run"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, KEY_ENV: KEY},
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            match = re.search(r"webhooks on (http://127\.0\.0\.1:\d+)", first)
            assert match, first
            state = _until(
                lambda: (s := _sync_state(capsys, config))["stored"] == contributions and s, "a first sync"
            )
            assert state["last_error"] is None and state["cursor"]
            newest = max(t.created_at for t in fake.transactions)
            fake.contribution(
                uuid_of(4444), newest + timedelta(hours=1), 1200, Account("polled", "Polled Donor")
            )
            state = _until(
                lambda: (s := _sync_state(capsys, config))["stored"] == contributions + 1 and s,
                "the next poll",
            )
            assert state["syncs"] >= 2 and len(fake.queries) >= 2 and not fake.invalid
            with urllib.request.urlopen(f"{match.group(1)}/metrics", timeout=10) as answer:
                metrics = answer.read().decode()
            assert f'donorbot_sync_donations_stored{{source="opencollective"}} {contributions + 1}' in metrics
            assert 'donorbot_sync_failing{source="opencollective"} 0' in metrics
            assert re.search(
                r'donorbot_sync_last_success_timestamp_seconds\{source="opencollective"\} [1-9]\d+', metrics
            )
            code, out, _ = cli(capsys, config, "status")
            assert code == 0 and "opencollective: last synced" in out and "every 0.02 min" in out
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                assert proc.wait(30) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
