"""Peak resident memory of this process and its children together (joblib workers included), sampled twice a
second: ``getrusage`` gives the largest single process only, which understates a run with worker processes."""

import threading

import psutil


class PeakMemory:
    """Context manager; ``gb`` is the largest sum of resident memory seen, in GB."""

    def __init__(self, interval=0.5):
        self.interval = interval
        self.gb = 0.0

    def _sample(self):
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        self.gb = max(self.gb, total / 1e9)

    def _run(self):
        while not self._done.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._sample()
        self._done.set()
        self._thread.join()
