"""Rate limits hold exactly across gunicorn's worker processes and threads (tasks_app/rate_limits.py)."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.integration


def test_a_token_limit_lets_exactly_its_number_through_from_many_clients_at_once(start_live_stack):
    # 2 gunicorn processes of 4 threads, 8 clients: the cache's read-then-write let ~9% too many through.
    stack = start_live_stack(API_TOKEN_RATE="60/minute", consumer=False)
    token = stack.create_user("erin")
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = Counter(pool.map(lambda _: stack.api("GET", "/api/me/", token)[0], range(120)))
    assert statuses == {200: 60, 429: 60}
