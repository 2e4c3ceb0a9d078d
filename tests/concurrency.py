"""Work started at the same instant in several threads, as separate processes would race."""

import threading


def at_once(count: int, work) -> list:
    """Run `work(i)` in `count` threads started together; return their results."""
    start, results = threading.Barrier(count), [None] * count

    def run(i):
        start.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
