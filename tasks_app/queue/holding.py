"""Holding a job back without running it (a paused job), on any backend.

Huey's way to skip a job from a pre-execute hook, CancelExecution, also reports the job as
skipped to its chord: pausing `export_part` would fail every export. Here a receiver of the
`ready` signal sets `task.held`, and the job goes back to the schedule untouched (with
`task.hold_until`, when it looks again), or, on the leased queue, aside until it is resumed.
"""

from __future__ import annotations

import logging

from huey import PriorityRedisHuey

from tasks_app.queue.periodic import LedgerMixin

SIGNAL_READY = "ready"

logger = logging.getLogger("huey")


class HoldingMixin:
    # The queue's own signals reach the receivers connected to them by name only: a receiver of
    # every signal (`@huey.signal()`) expects Huey's.
    own_signals = frozenset({SIGNAL_READY})

    def _emit(self, signal, task, *args, **kwargs):
        if signal not in self.own_signals:
            return super()._emit(signal, task, *args, **kwargs)
        for receiver in list(self._signal.receivers.get(signal, ())):
            try:
                receiver(signal, task, *args, **kwargs)
            except Exception:
                logger.exception("receiver %r of signal %r failed", receiver, signal)
        return None

    def execute(self, task, timestamp=None):
        self._emit(SIGNAL_READY, task)
        if not getattr(task, "held", False):
            return super().execute(task, timestamp)
        task.held = False
        self.hold(task)
        return None

    def hold(self, task) -> None:
        """Back to the schedule until `task.hold_until`, when it looks again (the leased queue
        keeps it aside until resumed instead)."""
        task.hold_until, task.eta = None, task.hold_until
        self.add_schedule(task)


class HoldingRedisHuey(LedgerMixin, HoldingMixin, PriorityRedisHuey):
    """The Redis queue for scale-out: Huey's priority variant (urgent mail has a priority); its
    periodic jobs run once per tick through the ledger, as on the leased queue."""
