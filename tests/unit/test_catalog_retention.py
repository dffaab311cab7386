"""A dataset with personal data must say how long its deliveries are kept (``retention_days``)."""

from __future__ import annotations

import pytest

from kho.catalog import CatalogError, catalog, load_catalog

ENTRY = (
    "id: contacts\nagency: alpha\ntitle_vi: t\ntitle_en: t\ndescription_vi: d\ndescription_en: d\n"
    "classification: restricted\nlicence: cc-by-4.0\nupdate_frequency: yearly\n"
    "source: {kind: inbox, format: csv}\n"
    "columns: [{name: amount, type: numeric}, {name: phone, personal_data: true}]\n"
)


def write(tmp_path, extra: str = ""):
    (tmp_path / "agencies.yml").write_text("agencies: [{id: alpha, name_vi: a, name_en: a}]\n")
    (tmp_path / "alpha").mkdir()
    path = tmp_path / "alpha" / "contacts.yml"
    path.write_text(ENTRY + extra)
    return path


def test_personal_data_without_retention_is_a_catalog_error(tmp_path):
    path = write(tmp_path)
    with pytest.raises(CatalogError) as exc:
        load_catalog(tmp_path)
    assert str(exc.value) == (
        f"{path}: field 'retention_days': required, as columns hold personal data (phone):"
        " how many days delivered files and quarantined rows are kept"
    )


def test_retention_is_whole_days(tmp_path):
    write(tmp_path, "retention_days: 0\n")
    with pytest.raises(
        CatalogError, match="field 'retention_days': Input should be greater than or equal to 1"
    ):
        load_catalog(tmp_path)


def test_every_dataset_with_personal_data_in_the_catalog_has_a_retention():
    flagged = {ds.id: ds.retention_days for ds in catalog().datasets.values() if ds.personal_columns}
    assert flagged == {"organic_zones": 730}
