"""A real malicious pickle for the loading tests: unpickling it runs code that creates a marker file."""

from pathlib import Path


class Payload:
    """Unpickling runs exec(...), which creates `marker`: what a stranger's file could do instead."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))
