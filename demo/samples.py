"""The repository's sample deliveries (``samples/<dataset>/``), dropped into the inboxes as agencies would."""

from __future__ import annotations

import shutil

from kho.settings import Settings, settings


def deliver_samples(dataset_id: str, s: Settings | None = None) -> int:
    """Copy the dataset's sample deliveries (files only) into its inbox; how many."""
    s = s or settings()
    samples = s.repo / "samples" / dataset_id
    if not samples.is_dir():
        return 0
    inbox = s.inbox_dir / dataset_id
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = [f for f in sorted(samples.iterdir()) if f.is_file()]
    for f in files:
        shutil.copy2(f, inbox / f.name)  # the times too (the inbox lands oldest first), and the mode:
        (inbox / f.name).chmod(0o600)  # a delivery is the owner's alone, whatever the repository's mode
    return len(files)
