"""The inbox watcher: an Airflow event trigger that fires when a dataset's inbox holds a complete delivery.

A delivery is complete when its size and modification time have not changed for ``stable_seconds``;
names starting with ``.`` or ending in ``.part``/``.tmp`` are never taken (write under such a name, then
rename). The triggerer runs one watcher per inbox dataset (``dags/kho_land.py``); each event starts the
dataset's landing DAG. A delivery still waiting after ``refire_seconds`` (landing failed for a reason
that may pass) fires again.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

IGNORED_SUFFIXES = (".part", ".tmp")


def waiting(directory: str) -> dict[str, tuple[int, int]]:
    """Name -> (size, mtime) of the entries of an inbox that may be deliveries (never followed)."""
    found = {}
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith(".") or entry.name.endswith(IGNORED_SUFFIXES):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                found[entry.name] = (st.st_size, st.st_mtime_ns)
    except FileNotFoundError:
        pass
    return found


class InboxTrigger(BaseEventTrigger):
    def __init__(
        self,
        directory: str,
        stable_seconds: float = 2.0,
        poke_interval: float = 1.0,
        refire_seconds: float = 300.0,
    ) -> None:
        super().__init__()
        self.directory = directory
        self.stable_seconds = stable_seconds
        self.poke_interval = poke_interval
        self.refire_seconds = refire_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "flow.inbox.InboxTrigger",
            {
                "directory": self.directory,
                "stable_seconds": self.stable_seconds,
                "poke_interval": self.poke_interval,
                "refire_seconds": self.refire_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        seen: dict[str, tuple[tuple[int, int], float]] = {}  # name -> (signature, since when unchanged)
        fired: dict[str, tuple[tuple[int, int], float]] = {}  # name -> (signature fired, when)
        while True:
            now = time.monotonic()
            current = await asyncio.to_thread(waiting, self.directory)
            seen = {
                name: (sig, seen[name][1] if name in seen and seen[name][0] == sig else now)
                for name, sig in current.items()
            }
            fired = {name: f for name, f in fired.items() if name in current}
            ready = sorted(
                name
                for name, (sig, since) in seen.items()
                if now - since >= self.stable_seconds
                and (
                    name not in fired or fired[name][0] != sig or now - fired[name][1] >= self.refire_seconds
                )
            )
            if ready:
                for name in ready:
                    fired[name] = (seen[name][0], now)
                yield TriggerEvent({"directory": self.directory, "files": ready})
            await asyncio.sleep(self.poke_interval)
