"""Split one of Kho's lock files against the Python environment of the image being built.

Run with the image's own interpreter while building ``deploy/airflow/Dockerfile`` or
``deploy/ckan/Dockerfile``. Writes two pip files:

- ``--requirements``: the lock's pins for the distributions the image does not have yet, less
  ``--exclude`` (what the image must not get, e.g. the embedded PostgreSQL of the local setup);
- ``--constraints``: what the image already has, pinned at the version it has, followed by the
  lock's pins for everything else. Installing with ``-c`` this file adds Kho's packages at the
  versions Kho is tested with and never changes a package the official image ships.

Usage::

    python lock_minus_image.py LOCK --requirements OUT --constraints OUT [--exclude NAME ...]
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;#]+)")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(path: Path) -> dict[str, tuple[str, str]]:
    """``{normalised name: (name as written, version)}`` for every ``name==version`` line of a lock."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[normalise(match.group(1))] = (match.group(1), match.group(3))
    return pins


def installed() -> dict[str, str]:
    """``{normalised name: version}`` of the distributions importable by this interpreter."""
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(normalise(name), dist.version)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--requirements", type=Path, required=True)
    parser.add_argument("--constraints", type=Path, required=True)
    parser.add_argument("--exclude", action="append", default=[], metavar="NAME")
    args = parser.parse_args(argv)

    pins = lock_pins(args.lock)
    have = installed()
    excluded = {normalise(name) for name in args.exclude}

    wanted = [
        f"{pins[key][0]}=={pins[key][1]}" for key in sorted(pins) if key not in have and key not in excluded
    ]
    constraints = [f"{key}=={version}" for key, version in sorted(have.items())]
    constraints += [f"{pins[key][0]}=={pins[key][1]}" for key in sorted(pins) if key not in have]

    args.requirements.write_text("".join(f"{line}\n" for line in wanted), encoding="utf-8")
    args.constraints.write_text("".join(f"{line}\n" for line in constraints), encoding="utf-8")
    kept = sum(1 for key in pins if key in have)
    print(
        f"{args.lock.name}: {len(pins)} pins; {kept} already in the image (kept at the image's version), "
        f"{len(wanted)} to install, {len(excluded & pins.keys())} excluded",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
