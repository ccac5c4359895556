"""Suite-wide rules. In CI (``CI`` set) a skipped test is a failure: every real component
(Synapse, the Discord emulator, SQLite) must be there, and a test that cannot run did not pass.

Property tests (hypothesis) are deterministic unless asked otherwise: the ``ci`` profile
(derandomized: the same examples on every run and every machine, no example database) is
the default, so a failure in CI is a failure on every clone. ``HYPOTHESIS_PROFILE=explore``
draws new random examples on each run to look for new bugs; a failure it finds prints the
example (and a blob to reproduce it), which then belongs in a test of its own.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure: {report.longrepr}"
