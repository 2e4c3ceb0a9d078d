"""Report files built in a process of their own, as the consumer builds them (services/report_files.py)."""

import multiprocessing
import os
import signal
from concurrent.futures.process import BrokenProcessPool

import pytest

from tasks_app.services import report_files

ROWS = [[1, "Zoë's café ☕", "To do", "High", "2030-01-01", "alice", "2026-12-05 10:00", ""]]


@pytest.fixture
def builder():
    builder = report_files.Builder(nice=5)
    yield builder
    for process in multiprocessing.active_children():
        process.kill()


def test_a_file_built_in_the_builder_process_is_the_one_built_inline(builder):
    for format in ("csv", "xlsx"):  # (a PDF carries its creation time)
        assert builder.build(format, ROWS, "Tasks") == report_files.build(format, ROWS, "Tasks")
    assert builder.build("pdf", ROWS, "Tasks").startswith(b"%PDF")
    (process,) = multiprocessing.active_children()
    assert process.pid != os.getpid()
    assert os.getpriority(os.PRIO_PROCESS, process.pid) == os.getpriority(os.PRIO_PROCESS, 0) + 5


def test_a_builder_process_that_dies_fails_that_build_and_the_next_one_starts_another(builder):
    builder.build("csv", ROWS, "Tasks")
    (process,) = multiprocessing.active_children()
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    with pytest.raises(BrokenProcessPool):
        builder.build("csv", ROWS, "Tasks")
    assert builder.build("csv", ROWS, "Tasks").startswith(b"\xef\xbb\xbfid,title")
