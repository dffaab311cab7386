"""Pin the container images Kho's deployment pulls by digest (docker-compose.yml's `image:` lines and the
Dockerfiles' `FROM` lines under deploy/): `postgres:18` becomes `postgres:18@sha256:...`, the digest of the
image index the registry serves for that tag today. Run it where the registry is reachable, review the diff,
commit it; run it again to take newer images.

    python3 scripts/pin_images.py            # resolve and write the digests
    python3 scripts/pin_images.py --check    # list the references not pinned yet; exit 1 if any

Only the standard library: a maintainer runs it before any environment exists. Docker Hub's registry API
(https://distribution.github.io/distribution/spec/api/): an anonymous pull token, then a HEAD of the tag's
manifest, whose `Docker-Content-Digest` header is the digest. `--registry` and `--auth` point it at another
registry speaking the same API (the test uses one of its own).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FILES = ["docker-compose.yml", "deploy/airflow/Dockerfile", "deploy/ckan/Dockerfile"]
# `image: name:tag`, `FROM name:tag` (not images built here, given by a variable, or already pinned)
REFERENCE = re.compile(
    r"^(?P<lead>\s*(?:image:|FROM)\s+)(?P<ref>[a-z0-9][a-z0-9._/-]*:[A-Za-z0-9._-]+)(?P<pin>@sha256:[0-9a-f]{64})?(?=\s|$)",
    re.M,
)
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def references(text: str) -> list[tuple[str, bool]]:
    """(name:tag, pinned) of every image reference of a file's text."""
    return [(m["ref"], bool(m["pin"])) for m in REFERENCE.finditer(text)]


def repository(name: str) -> str:
    """Docker Hub's repository path: official images live under library/."""
    return name if "/" in name else f"library/{name}"


def digest(ref: str, registry: str, auth: str) -> str:
    name, tag = ref.rsplit(":", 1)
    repo = repository(name)
    query = urllib.parse.urlencode({"service": "registry.docker.io", "scope": f"repository:{repo}:pull"})
    with urllib.request.urlopen(f"{auth}?{query}", timeout=30) as response:
        token = json.load(response)["token"]
    request = urllib.request.Request(
        f"{registry}/v2/{repo}/manifests/{tag}",
        method="HEAD",
        headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        found = response.headers.get("Docker-Content-Digest", "")
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", found):
        raise RuntimeError(f"{ref}: the registry gave no digest (Docker-Content-Digest: {found!r})")
    return found


def pin(text: str, resolve) -> str:
    """``text`` with every image reference pinned to ``resolve(ref)``'s digest (pinned ones resolved again)."""
    return REFERENCE.sub(lambda m: f"{m['lead']}{m['ref']}@{resolve(m['ref'])}", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list the references not pinned yet")
    parser.add_argument("--root", type=Path, default=REPO, help="the repository (default: this one)")
    parser.add_argument("--registry", default="https://registry-1.docker.io")
    parser.add_argument("--auth", default="https://auth.docker.io/token")
    args = parser.parse_args(argv)
    paths = [args.root / f for f in FILES if (args.root / f).is_file()]
    if args.check:
        loose = [
            f"{p.relative_to(args.root)}: {ref}"
            for p in paths
            for ref, pinned in references(p.read_text())
            if not pinned
        ]
        print("\n".join(loose) or "every image is pinned by digest")
        return 1 if loose else 0
    cache: dict[str, str] = {}

    def resolve(ref: str) -> str:
        if ref not in cache:
            cache[ref] = digest(ref, args.registry, args.auth)
            print(f"{ref}@{cache[ref]}")
        return cache[ref]

    try:
        pinned = {path: pin(path.read_text(), resolve) for path in paths}
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        print(
            f"error: the registry {args.registry} did not give a digest: {exc}; nothing was changed",
            file=sys.stderr,
        )
        return 2
    for path, text in pinned.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
