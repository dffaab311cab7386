"""The portal's themes (catalog/themes.yml): every catalog dataset is in one, each has its icon."""

from kho.catalog import catalog
from publishers.themes import ICONS, themes, themes_of


def test_every_dataset_is_in_a_theme():
    missing = [d for d in catalog().datasets if not themes_of(d)]
    assert missing == []


def test_every_theme_names_known_datasets_a_vietnamese_name_and_an_icon_the_portal_serves():
    known = set(catalog().datasets)
    for theme in themes():
        assert set(theme.datasets) <= known, theme.id
        assert theme.name_vi and theme.name_en and theme.name_vi != theme.name_en
        assert (ICONS / f"{theme.icon}.svg").is_file(), theme.icon
