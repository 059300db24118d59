"""The one long-lived worker thread: completes provider actions when they are due (starting and stopping
sshd, which must happen on this thread because of PR_SET_PDEATHSIG) and watches that the simulator's
parent is still alive."""
import heapq
import itertools
import logging
import os
import threading
import time

log = logging.getLogger("cloudsim.scheduler")


class Scheduler:
    def __init__(self, state, on_parent_death):
        self._state = state
        self._queue = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._parent = os.getppid()
        self._on_parent_death = on_parent_death
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="cloudsim-scheduler", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=30)

    def at(self, due, work, commit):
        """At monotonic time `due`: `work()` runs without the state lock (may start or stop sshd), then
        `commit(error)` runs under the state lock with the exception `work` raised, or None."""
        with self._wake:
            heapq.heappush(self._queue, (due, next(self._order), work, commit))
            self._wake.notify()

    def run_now(self, work):
        """Runs `work` on the scheduler thread and waits for it (for sshd starts outside actions)."""
        done = threading.Event()
        outcome = {}

        def wrapped():
            try:
                outcome["value"] = work()
            except Exception as error:  # handed back to the caller
                outcome["error"] = error
            done.set()

        self.at(0, wrapped, lambda error: None)
        done.wait()
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("value")

    def _run(self):
        while True:
            with self._wake:
                while not self._stopping:
                    now = time.monotonic()
                    if self._queue and self._queue[0][0] <= now:
                        break
                    timeout = 0.2 if not self._queue else min(0.2, self._queue[0][0] - now)
                    self._wake.wait(timeout)
                    if os.getppid() != self._parent:
                        break
                if self._stopping:
                    return
                if os.getppid() != self._parent:
                    log.warning("parent process %d is gone: shutting down", self._parent)
                    threading.Thread(target=self._on_parent_death, daemon=True).start()
                    self._stopping = True
                    return
                _, _, work, commit = heapq.heappop(self._queue)
            error = None
            try:
                if work is not None:
                    work()
            except Exception as caught:
                log.exception("scheduled work failed")
                error = caught
            try:
                with self._state.lock:
                    commit(error)
            except Exception:
                log.exception("scheduled commit failed")
