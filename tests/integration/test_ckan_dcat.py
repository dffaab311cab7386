"""DCAT: ckanext-dcat's catalog endpoint and a published dataset's RDF carry the fields DCAT-AP asks for.

The RDF is read back with rdflib, which lives in CKAN's environment (ckanext-dcat depends on it), so
the graph is parsed there, in a child process, and handed back as JSON.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from kho.catalog import catalog
from publishers.ckan import publish
from publishers.metadata import ckan_name

pytest_plugins = ["tests.integration.conftest_ckan"]

pytestmark = pytest.mark.e2e

# Runs in CKAN's environment: fetch a DCAT document, parse it, print what each dcat:Dataset says.
READ_BACK = r"""
import json, sys, urllib.request
from rdflib import Graph, Namespace, RDF, RDFS, SKOS

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
url, fmt = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url, timeout=60) as response:
    g = Graph().parse(data=response.read(), format=fmt)

def one(subject, predicate):
    values = sorted(str(o) for o in g.objects(subject, predicate))
    return values[0] if values else None

out = {"catalogs": [one(c, DCT.title) for c in g.subjects(RDF.type, DCAT.Catalog)], "datasets": {}}
for d in g.subjects(RDF.type, DCAT.Dataset):
    temporal = next(g.objects(d, DCT.temporal), None)
    spatial = next(g.objects(d, DCT.spatial), None)
    publisher = next(g.objects(d, DCT.publisher), None)
    contact = next(g.objects(d, DCAT.contactPoint), None)
    provenance = next(g.objects(d, DCT.provenance), None)
    out["datasets"][str(d)] = {
        "title": one(d, DCT.title),
        "description": one(d, DCT.description),
        "keywords": sorted(str(k) for k in g.objects(d, DCAT.keyword)),
        "issued": one(d, DCT.issued),
        "modified": one(d, DCT.modified),
        "frequency": one(d, DCT.accrualPeriodicity),
        "languages": sorted(str(x) for x in g.objects(d, DCT.language)),
        "temporal": [one(temporal, DCAT.startDate), one(temporal, DCAT.endDate)] if temporal else None,
        "spatial": one(spatial, SKOS.prefLabel) if spatial is not None else None,
        "publisher": one(publisher, FOAF.name) if publisher is not None else None,
        "contact": [one(contact, VCARD.fn), one(contact, VCARD.hasEmail)] if contact is not None else None,
        "provenance": one(provenance, RDFS.label) if provenance is not None else None,
        "distributions": [
            {
                "title": one(x, DCT.title),
                "download": one(x, DCAT.downloadURL),
                "access": one(x, DCAT.accessURL),
                "media_type": one(x, DCAT.mediaType),
                "format": one(x, DCT["format"]),
                "license": one(x, DCT.license),
            }
            for x in g.objects(d, DCAT.distribution)
        ],
    }
print(json.dumps(out))
"""


def read_back(site, path: str, fmt: str) -> dict:
    python = site.settings.venv_bin("ckan", "python")
    done = subprocess.run(
        [str(python), "-c", READ_BACK, site.url + path, fmt], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture
def published(ckan_site, mart):
    result = publish(mart.dataset, ckan_site.settings, manifest=mart.manifest)
    return mart, result


def check_dataset(found: dict, mart, result, site) -> None:
    ds = mart.dataset
    assert found["title"] == ds.title_vi
    assert found["description"].startswith(ds.description_vi) and ds.description_en in found["description"]
    assert set(ds.tags) <= set(found["keywords"])
    assert found["issued"] and found["modified"]
    assert found["frequency"].endswith("/frequency/ANNUAL")
    assert any(x.endswith("/language/VIE") for x in found["languages"])
    assert [d[:10] for d in found["temporal"]] == ["2005-01-01", "2024-12-31"]
    assert found["spatial"].startswith("Cả nước: 4 ")
    assert found["publisher"] == catalog().agencies["statistics_office"].name_vi
    name, email = found["contact"]
    assert email == "mailto:thongke@example.gov.vn" and name
    assert f"marts.{mart.table}" in found["provenance"]
    (dist,) = found["distributions"]
    assert dist["download"].startswith(
        f"{site.url}/dataset/{result.package_id}/resource/{result.resource_id}/"
    )
    assert dist["download"].endswith(".csv")
    assert dist["media_type"] == "text/csv" and dist["format"] == "CSV"
    assert dist["license"].startswith("https://creativecommons.org/licenses/by/4.0")


def test_dataset_rdf_carries_the_required_fields(ckan_site, published):
    mart, result = published
    for path, fmt in (
        (f"/dataset/{ckan_name(mart.dataset.id)}.rdf", "xml"),
        (f"/dataset/{result.package_id}.ttl", "turtle"),
    ):
        graph = read_back(ckan_site, path, fmt)
        found = graph["datasets"][f"{ckan_site.url}/dataset/{result.package_id}"]
        check_dataset(found, mart, result, ckan_site)


def test_catalog_endpoint_lists_the_dataset_with_the_same_fields(ckan_site, published):
    mart, result = published

    graph = read_back(ckan_site, f"/catalog.ttl?q=name:{ckan_name(mart.dataset.id)}", "turtle")

    assert graph["catalogs"] == ["Cổng dữ liệu mở"]
    check_dataset(graph["datasets"][f"{ckan_site.url}/dataset/{result.package_id}"], mart, result, ckan_site)
