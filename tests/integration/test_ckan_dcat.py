"""DCAT: ckanext-dcat's catalog endpoint and a published dataset's RDF carry the fields DCAT-AP asks for.

The RDF is read back with rdflib, which lives in CKAN's environment (ckanext-dcat depends on it), so
the graph is parsed there, in a child process, and handed back as JSON.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pyshacl import validate
from rdflib import RDF, Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS, SH

from kho.catalog import catalog
from publishers.ckan import publish
from publishers.metadata import ckan_name

pytest_plugins = ["tests.integration.conftest_ckan"]

pytestmark = pytest.mark.e2e

DCT = DCTERMS

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
    # CSV, XLSX, JSON; the CSV checked here
    assert len(found["distributions"]) == 3
    (dist,) = [d for d in found["distributions"] if d["format"].endswith("/CSV")]
    assert dist["download"].startswith(
        f"{site.url}/dataset/{result.package_id}/resource/{result.resource_id}/"
    )
    assert dist["download"].endswith(".csv")
    assert dist["media_type"] == "https://www.iana.org/assignments/media-types/text/csv"
    assert dist["format"] == "http://publications.europa.eu/resource/authority/file-type/CSV"
    assert dist["license"] == "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"


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


# --- DCAT-AP 3.0.1: the official shapes, and the EU portal's metadata quality method -------------

SHAPES = Path(__file__).parents[1] / "data" / "dcat-ap-3.0.1"
EU = "http://publications.europa.eu/resource/authority"
# Formats the MQA counts as open (non-proprietary) and as machine-readable, of those Kho publishes
NON_PROPRIETARY = {"CSV", "JSON", "GEOJSON"}
MACHINE_READABLE = {"CSV", "JSON", "GEOJSON", "XLSX"}


def shacl(data: Graph, shapes: str) -> list[str]:
    """What the shapes file finds in the graph, checked as it is (no inference), one line each."""
    _, report, _ = validate(data, shacl_graph=Graph().parse(SHAPES / shapes), inference="none")
    return sorted(
        f"{report.value(r, SH.resultSeverity).split('#')[1]}: {report.value(r, SH.focusNode)} "
        f"{report.value(r, SH.resultPath)}: {report.value(r, SH.resultMessage)}"
        for r in report.subjects(RDF.type, SH.ValidationResult)
    )


def reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(str(url), method="HEAD"), timeout=30) as r:
            return r.status < 400
    except (urllib.error.URLError, ValueError):
        return False


def mqa_score(g: Graph, dataset, compliant: bool) -> dict[str, float]:
    """The dataset's points by the data.europa.eu Metadata Quality Assessment method (405 in all); a
    distribution property counts in proportion to the distributions that have it."""
    dists = list(g.objects(dataset, DCAT.distribution))

    def share(test) -> float:
        return sum(1 for d in dists if test(d)) / len(dists) if dists else 0.0

    def has(s, p) -> bool:
        return g.value(s, p) is not None

    def eu(value, table: str) -> bool:
        return value is not None and str(value).startswith(f"{EU}/{table}/")

    def file_type(d) -> str:
        return str(g.value(d, DCT["format"]) or "").rsplit("/", 1)[-1]

    return {
        "keywords": 30 * has(dataset, DCAT.keyword),
        "themes": 30 * has(dataset, DCAT.theme),
        "spatial": 20 * has(dataset, DCT.spatial),
        "temporal": 20 * has(dataset, DCT.temporal),
        "access_url_reachable": 50 * share(lambda d: reachable(g.value(d, DCAT.accessURL))),
        "download_url": 20 * share(lambda d: has(d, DCAT.downloadURL)),
        "download_url_reachable": 30 * share(lambda d: reachable(g.value(d, DCAT.downloadURL))),
        "format": 20 * share(lambda d: has(d, DCT["format"])),
        "media_type": 10 * share(lambda d: has(d, DCAT.mediaType)),
        "format_media_type_vocabulary": 10
        * share(
            lambda d: (
                eu(g.value(d, DCT["format"]), "file-type")
                and str(g.value(d, DCAT.mediaType)).startswith(
                    "https://www.iana.org/assignments/media-types/"
                )
            )
        ),
        "non_proprietary": 20 * share(lambda d: file_type(d) in NON_PROPRIETARY),
        "machine_readable": 20 * share(lambda d: file_type(d) in MACHINE_READABLE),
        "dcat_ap_compliance": 30 * compliant,
        "licence": 20 * share(lambda d: has(d, DCT.license)),
        "licence_vocabulary": 10 * share(lambda d: eu(g.value(d, DCT.license), "licence")),
        "access_rights": 10 * has(dataset, DCT.accessRights),
        "access_rights_vocabulary": 5 * eu(g.value(dataset, DCT.accessRights), "access-right"),
        "contact_point": 20 * has(dataset, DCAT.contactPoint),
        "publisher": 10 * has(dataset, DCT.publisher),
        "rights": 5 * share(lambda d: has(d, DCT.rights)),
        "byte_size": 5 * share(lambda d: has(d, DCAT.byteSize)),
        "issued": 5 * has(dataset, DCT.issued),
        "modified": 5 * has(dataset, DCT.modified),
    }


def catalog_graph(site, query: str = "") -> Graph:
    with urllib.request.urlopen(f"{site.url}/catalog.ttl{query}", timeout=120) as response:
        return Graph().parse(data=response.read(), format="turtle")


def test_catalog_passes_the_dcat_ap_shapes_and_rates_excellent(ckan_site, published):
    mart, result = published

    g = catalog_graph(ckan_site, f"?q=name:{ckan_name(mart.dataset.id)}")

    assert shacl(g, "shapes.ttl") == []
    assert shacl(g, "range.ttl") == []
    # the recommended properties too, for the dataset and its distributions
    dataset = URIRef(f"{ckan_site.url}/dataset/{result.package_id}")
    ours = {str(dataset), *(str(d) for d in g.objects(dataset, DCAT.distribution))}
    warnings = [w for w in shacl(g, "shapes_recommended.ttl") if w.split(" ")[1] in ours]
    assert warnings == []
    assert {str(t) for t in g.objects(dataset, DCAT.theme)} == {f"{EU}/data-theme/AGRI"}
    formats = sorted(str(g.value(d, DCT["format"])) for d in g.objects(dataset, DCAT.distribution))
    assert formats == [f"{EU}/file-type/{t}" for t in ("CSV", "JSON", "XLSX")]

    score = mqa_score(g, dataset, compliant=True)
    missing = {k: v for k, v in score.items() if not v}
    assert missing == {}
    assert sum(score.values()) >= 351, score  # "Excellent"
