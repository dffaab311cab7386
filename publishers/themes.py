"""The portal's themes (CKAN groups) from ``catalog/themes.yml``: which exist, which a dataset is in.

Why here: a theme is what the catalog says about datasets, and the publisher is the only writer to CKAN.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from kho.settings import REPO

THEMES_FILE = REPO / "catalog" / "themes.yml"
ICONS = REPO / "ckanext-kho" / "ckanext" / "kho" / "public" / "kho" / "themes"


@dataclass(frozen=True)
class Theme:
    id: str  # the CKAN group name
    name_vi: str
    name_en: str
    icon: str
    description_vi: str
    description_en: str
    datasets: tuple[str, ...]

    def group_metadata(self, site_url: str) -> dict[str, Any]:
        return {
            "title": self.name_vi,
            "description": f"{self.description_vi}\n\n*{self.name_en}.* {self.description_en}",
            "image_url": f"{site_url}/kho/themes/{self.icon}.svg",
            "state": "active",
        }


@lru_cache(maxsize=4)
def themes(path: Path = THEMES_FILE) -> tuple[Theme, ...]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(
        Theme(
            id=t["id"],
            name_vi=t["name_vi"],
            name_en=t["name_en"],
            icon=t["icon"],
            description_vi=t.get("description_vi", ""),
            description_en=t.get("description_en", ""),
            datasets=tuple(t.get("datasets", [])),
        )
        for t in doc["themes"]
    )


def themes_of(dataset_id: str) -> list[Theme]:
    return [t for t in themes() if dataset_id in t.datasets]
