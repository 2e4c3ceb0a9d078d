"""Where a consumer's CPU goes, by stage of a job: the CPU time of each thread (time.thread_time,
so waits for a lock, the GIL or a core cost nothing) charged to the stage it is in.

`bench/leased_consumer.py` installs it when BENCH_PROFILE names a file: each function of STAGES
is wrapped, the CPU a thread spends inside it charged to its stage, less what it spends inside
another wrapped function (charged to that one's stage). At exit the file gets, as JSON, each
stage's CPU seconds and calls, the CPU of the process until the consumer started (Django's
setup, every import) and its whole CPU; what no stage holds is the rest of the process (Huey's
loops, the threads' own wake-ups, the garbage collector).

A sampling profiler would not do here: on a shared machine a thread that waits for a core, and
one that waits for the GIL or the queue's lock, looks busy to it (py-spy counted 2 to 3 times the
CPU the kernel did). A deterministic profiler (cProfile) with a CPU clock reads the clock at every
call: 1.5 µs a read on this machine, more than a no-op job's own cost. Here the clock is read
twice per wrapped call, about 25 calls a job: a few percent, shown beside the figures.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import threading
import time

# (stage, "module:attribute path" of the function to wrap). A method is wrapped on the class that
# defines it, so subclasses see it too.
STAGES = [
    # A worker claims the next message: LeasedHuey.dequeue -> _claim -> storage.claim; _task_for.
    ("claim: SQL (storage.claim: look, then update ... returning)", "tasks_app.queue.storage:LeasedStorage.claim"),
    ("claim: fair turns and lanes bookkeeping, lock (leased._claim)", "tasks_app.queue.leased:LeasedHuey._claim"),
    ("claim: read the message (leased._task_for: unpickle)", "tasks_app.queue.leased:LeasedHuey._task_for"),
    ("claim: dequeue, other (leased.dequeue)", "tasks_app.queue.leased:LeasedHuey.dequeue"),
    ("idle wait for a wake-up (leased._wait)", "tasks_app.queue.leased:LeasedHuey._wait"),
    # Its run: LeasedHuey.execute -> HoldingMixin.execute -> Huey.execute -> _execute.
    ("run: Huey's execute, other (leased.execute, api._execute)", "tasks_app.queue.leased:LeasedHuey.execute"),
    ("run: revoke check (api.is_revoked: a kv SELECT)", "huey.api:Huey.is_revoked"),
    ("run: pre/post-execute hooks (progress, result summary)", "huey.api:Huey._run_pre_execute"),
    ("run: pre/post-execute hooks (progress, result summary)", "huey.api:Huey._run_post_execute"),
    ("signals -> history events (holding._emit: record, identity)", "tasks_app.queue.holding:HoldingMixin._emit"),
    ("the job body (bench.leased_jobs.noop)", "bench.leased_jobs:noop.task_class.execute"),
    ("djhuey close_db: close_old_connections around the body", "huey.contrib.djhuey:close_old_connections"),
    # Its end: one queue transaction (holds, outbox, finish) -> the writer's buffer.
    ("done mark: queue transaction (leased._finish)", "tasks_app.queue.leased:LeasedHuey._finish"),
    ("outbox: Huey's writes after the body (revoke-key delete)", "tasks_app.queue.leased:LeasedHuey.delete"),
    ("outbox: Huey's writes after the body (revoke-key delete)", "tasks_app.queue.leased:LeasedHuey.put_result"),
    ("outbox: Huey's writes after the body (revoke-key delete)", "tasks_app.queue.leased:LeasedHuey._check_chord"),
    ("Huey worker loop, other (consumer.Worker.loop)", "huey.consumer:Worker.loop"),
    # The history writer's thread: group commits of the events, then the acks.
    ("history: JobRun read and apply, commit (history.write)", "tasks_app.queue.history:write"),
    ("history: JobRun UPDATEs (history._update)", "tasks_app.queue.history:_update"),
    ("history: JobRun INSERTs (history.insert)", "tasks_app.queue.history:insert"),
    ("history: JobEvent INSERTs (history.insert_events)", "tasks_app.queue.history:insert_events"),
    ("history: JobTotal counters (history.add_to_totals)", "tasks_app.queue.history:add_to_totals"),
    ("ack: delete the messages (leased.ack)", "tasks_app.queue.leased:LeasedHuey.ack"),
    ("history writer: flush, other (writer.flush)", "tasks_app.queue.writer:Writer.flush"),
    ("history writer: close_old_connections each round", "tasks_app.queue.writer:close_old_connections"),
    ("history writer: loop, other (writer._run)", "tasks_app.queue.writer:Writer._run"),
    # Every few seconds, whatever the load.
    ("heartbeat: consumer row, paused runs (writer._beat)", "tasks_app.queue.writer:_beat"),
    ("heartbeat: dead consumers' jobs (leased.release_orphans)", "tasks_app.queue.leased:LeasedHuey.release_orphans"),
    ("heartbeat: lost-message recovery (recovery.requeue_lost)", "tasks_app.queue.recovery:requeue_lost"),
    ("heartbeat: queue lease (storage.beat)", "tasks_app.queue.storage:LeasedStorage.beat"),
    ("scheduler: delayed and periodic jobs (consumer.Scheduler.loop)", "huey.consumer:Scheduler.loop"),
]

_local = threading.local()
_threads: list[dict[str, list]] = []  # each thread's {stage: [seconds, calls]}
_threads_lock = threading.Lock()


def _totals() -> dict[str, list]:
    totals = getattr(_local, "totals", None)
    if totals is None:
        totals = _local.totals = {}
        _local.stack, _local.since = [], 0.0
        with _threads_lock:
            _threads.append(totals)
    return totals


def timed(stage: str, function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        totals = _totals()
        stack = _local.stack
        now = time.thread_time()
        if stack:  # the stage we were in stops here
            totals.setdefault(stack[-1], [0.0, 0])[0] += now - _local.since
        stack.append(stage)
        _local.since = now
        try:
            return function(*args, **kwargs)
        finally:
            now = time.thread_time()
            entry = totals.setdefault(stack.pop(), [0.0, 0])
            entry[0] += now - _local.since
            entry[1] += 1
            _local.since = now  # ... and goes on

    wrapper.bench_profiled = True
    return wrapper


def _resolve(target: str):
    module_name, _, path = target.partition(":")
    owner = importlib.import_module(module_name)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    return owner, name


def _calibrate(calls: int = 20_000) -> float:
    """CPU seconds one wrapped call adds (its own thread's stages: thrown away)."""

    def nothing() -> None:
        pass

    wrapped = timed("calibration", nothing)
    start = time.thread_time()
    for _ in range(calls):
        nothing()
    bare = time.thread_time() - start
    start = time.thread_time()
    for _ in range(calls):
        wrapped()
    cost = (time.thread_time() - start - bare) / calls
    _totals().pop("calibration", None)
    return cost


def install(path: str, startup_cpu: float) -> None:
    for stage, target in STAGES:
        owner, name = _resolve(target)
        function = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        if getattr(function, "bench_profiled", False):
            continue
        setattr(owner, name, timed(stage, function))
    wrapper_cost = _calibrate()
    started = time.process_time()

    def dump() -> None:
        stages: dict[str, list] = {}
        with _threads_lock:
            for totals in _threads:
                for stage, (seconds, calls) in list(totals.items()):
                    entry = stages.setdefault(stage, [0.0, 0])
                    entry[0] += seconds
                    entry[1] += calls
        figures = {
            "stages": stages,
            "setup_cpu": startup_cpu,
            "installed_cpu": started,
            "wrapper_cost": wrapper_cost,
            "process_cpu": time.process_time(),
        }
        with open(path, "w") as out:
            json.dump(figures, out)

    atexit.register(dump)
