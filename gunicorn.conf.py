"""gunicorn's settings for this project, read from the working directory (the Procfile's and the
deploy kit's gunicorn start there): each worker counts its web requests in files the /metrics view
adds up (prometheus-client's multiprocess mode, `tasks_app/metrics.py`)."""

import os
import shutil
from pathlib import Path

METRICS = Path(os.environ.get("DATA_DIR") or Path(__file__).resolve().parent / "db") / "metrics"


def on_starting(server) -> None:
    """A folder of this master's own, empty, for its workers' counts, named in the environment they
    inherit: a restart starts the web request counters at zero, as Prometheus expects of a restarted
    process. Folders of masters that are gone are deleted."""
    for folder in METRICS.glob("*"):
        if folder.name.isdigit() and not _alive(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
    folder = METRICS / str(os.getpid())
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
