import pytest

from tasks_app.jobs.backoff import backoff_delay


@pytest.mark.parametrize("attempt", range(8))
def test_each_delay_lies_between_half_and_all_of_the_capped_exponential(attempt):
    ceiling = min(100.0, 2.0 * 2**attempt)
    for _ in range(200):
        assert ceiling / 2 <= backoff_delay(attempt, base=2, cap=100) <= ceiling


def test_delays_never_shrink_from_one_attempt_to_the_next_and_stop_growing_at_the_cap():
    lows = [backoff_delay(n, base=1, cap=64) for n in range(10)]
    highs = [backoff_delay(n, base=1, cap=64) for n in range(10)]
    assert all(highs[n] <= 2 * lows[n + 1] for n in range(9))
    assert max(lows + highs) <= 64


def test_it_spreads_jobs_that_failed_together():
    assert len({round(backoff_delay(3, base=10, cap=600), 3) for _ in range(50)}) > 40
