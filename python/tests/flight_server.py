"""A `quiver serve` child process for the Flight SQL tests."""

import queue
import re
import subprocess
import threading
import time


class Server:
    """A `quiver serve` child on a free port; its stderr lines are collected in a queue."""

    def __init__(self, binary, db, *extra, listen="127.0.0.1:0"):
        self.process = subprocess.Popen(
            [str(binary), "serve", "--db", str(db), "--listen", listen, *map(str, extra)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        match = re.match(r"listening on (grpc(?:\+tls)?://\S+)", line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"quiver serve did not start: {line!r} {self.process.stderr.read()}")
        self.uri = match.group(1)
        self.log = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.process.stderr:
            self.log.put(line.rstrip("\n"))

    def wait_for_log(self, pattern, timeout=30):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = self.log.get(timeout=0.1)
            except queue.Empty:
                continue
            seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no server log line matching {pattern!r}; saw {seen}")

    def stop(self):
        self.process.terminate()
        return self.process.wait(timeout=30)
