"""A drain counted in the consumer's memory, not in the database, so counting adds no write per job.

For the peers whose "done" is not a row the bench can read cheaply (stock Huey deletes its
message before the job runs; django-tasks-db's table is its history too): each consumer process
counts its completed no-ops and a thread writes the count, with the first start and last finish
times (time.time()), to `<prefix>.<pid>.json` every 20 ms while it changes. The bench adds up the
files of all consumers (`read`).
"""

import glob
import json
import os
import threading
import time

COUNT_EVERY = 0.02  # seconds between writes of a consumer's count, while it changes


class DrainCounter:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self._lock = threading.Lock()
        self._drain = {"done": 0, "first_start": None, "last_finish": None}
        self._writer: threading.Thread | None = None

    def started(self) -> None:
        """A no-op starts; the first one starts the writer thread (only consumers write counts)."""
        if self._drain["first_start"] is not None:
            return
        with self._lock:
            self._drain["first_start"] = self._drain["first_start"] or time.time()
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_counts, name="bench-counts", daemon=True)
                self._writer.start()

    def finished(self) -> None:
        with self._lock:
            self._drain["done"] += 1
            self._drain["last_finish"] = time.time()

    def _write_counts(self) -> None:
        path, written = f"{self.prefix}.{os.getpid()}.json", None
        while True:
            time.sleep(COUNT_EVERY)
            with self._lock:
                snapshot = dict(self._drain)
            if snapshot != written:
                with open(path + ".tmp", "w") as out:
                    json.dump(snapshot, out)
                os.replace(path + ".tmp", path)
                written = snapshot


def read(prefix: str) -> list[dict]:
    """The counts the consumers have written so far, one per consumer process."""
    counts = []
    for path in glob.glob(glob.escape(prefix) + ".*.json"):
        with open(path) as count:
            counts.append(json.load(count))
    return counts
