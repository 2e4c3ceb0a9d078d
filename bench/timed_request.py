"""One API request on a fresh connection, timed: what the benches' clients send."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass


@dataclass
class Sample:
    kind: str
    status: int  # 0: no answer (connection refused or reset, timeout)
    at: float  # time.monotonic() when it was sent
    seconds: float


def timed_request(
    url: str, token: str, kind: str, method: str, path: str, body: bytes | None, content_type: str, timeout: float
) -> tuple[Sample, bytes]:
    """Send one request with the user's token; return its Sample and the body (or the error's text)."""
    host, port = url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Token {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    at, started = time.monotonic(), time.perf_counter()
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        status, data = response.status, response.read()
    except (OSError, http.client.HTTPException) as error:
        status, data = 0, str(error).encode()
    finally:
        connection.close()
    return Sample(kind, status, at, time.perf_counter() - started), data
