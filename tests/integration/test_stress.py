"""Concurrency stress, bounded: bench/stress.py's clients against gunicorn with several workers and a real consumer.

`make stress` runs the heavier version and prints its figures; this test asserts its checks, not its speed.
"""

import pytest

from bench import stress

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def stack(tmp_path):
    stack = stress.stack_for(tmp_path / "data")
    yield stack
    stack.stop()
    print(stack.logs())  # shown by pytest only when the test failed


def test_eight_clients_for_15_seconds_get_no_error_and_every_count_adds_up(stack):
    stress.start(stack, web_workers=4)
    outcome = stress.run(stack, clients=8, seconds=15)
    print(stress.report(outcome))

    assert outcome.passed, stress.report(outcome)
    team = outcome.clients
    assert sum(client.created for client in team) and sum(client.completed for client in team)
    assert all(client.reports and client.imports for client in team)  # jobs ran during the load
