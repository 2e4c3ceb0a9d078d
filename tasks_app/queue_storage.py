"""Huey's SQLite storage with `synchronous=NORMAL`.

Stock `SqliteHuey` offers `fsync=True` (synchronous=FULL: an fsync per enqueue) or
`fsync=False` (synchronous=OFF: a power loss can corrupt the queue). In WAL mode NORMAL is
the usual middle: durable across application crashes, and after a power loss at most the
last few commits are lost, never the file. It enqueues several times faster than FULL.
"""

from huey import SqliteHuey as StockSqliteHuey
from huey.storage import SqliteStorage as StockSqliteStorage


class SqliteStorage(StockSqliteStorage):
    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=NORMAL")
        return conn


class SqliteHuey(StockSqliteHuey):
    storage_class = SqliteStorage
