"""Interference, bounded: bench/interference.py's everyday clients beside its heavy client on one live stack.

`bench/interference.py` runs it for minutes and prints its figures; this test asserts that every
result is right under that load, not how fast it came.
"""

import pytest

from bench import interference

pytestmark = pytest.mark.integration

IMPORT_ROWS = 300


@pytest.fixture
def stack(tmp_path):
    stack = interference.stack_for(tmp_path / "data")
    yield stack
    stack.stop()
    print(stack.logs())  # shown by pytest only when the test failed


def test_everyday_clients_beside_a_heavy_one_get_no_error_and_all_work_succeeds(stack):
    interference.start(stack)
    outcome = interference.run(stack, everyday=4, seconds=5, import_rows=IMPORT_ROWS, finish_timeout=120)
    figures = interference.report(outcome)
    print(figures)

    alone, heavy = outcome.phases
    assert alone.latencies() and heavy.latencies() and heavy.heavy, "a phase sent no request"
    assert outcome.of("import") and outcome.of("report"), "the heavy client started no work"
    assert outcome.server_errors == 0, figures
    assert outcome.lost == 0, figures
    assert outcome.locked == 0, figures
    assert not outcome.jobs_not_succeeded and not outcome.unfinished_jobs, figures
    assert not outcome.wrong_imports, figures
    assert not outcome.reports_not_succeeded, figures
