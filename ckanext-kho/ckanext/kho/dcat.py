"""DCAT profile ``kho_dcat``: what ckanext-dcat's ``euro_dcat_ap_3`` profile leaves out of DCAT-AP 3.0.1.

Enable it after that profile (``ckanext.dcat.rdf.profiles = euro_dcat_ap_3 kho_dcat``). It works on the
graph the profiles before it made, so every DCAT endpoint (/catalog.ttl, /dataset/<name>.rdf, ...) passes
the official SHACL shapes (shapes.ttl and range.ttl, checked without inference) and carries the
recommended properties:

- values the shapes want from controlled vocabularies: file formats from the EU file-type table, media
  types from IANA, licences from the EU licence table;
- every node that the range shapes expect of a class gets that class stated (a contact point is a
  ``vcard:Kind``, a publisher a ``foaf:Agent``, a language a ``dct:LinguisticSystem``, ...), since
  ckanext-dcat states only subclasses (``vcard:Organization``) or none at all;
- what a distribution of an open dataset always has: rights (its licence, in words) and availability;
- the catalogue's languages (EU language table), publisher (``ckanext.kho.catalog_publisher``, default
  the site title), licence, coverage (``ckanext.kho.catalog_spatial``, default Viet Nam), theme
  taxonomy (the EU data themes) and date of issue (its first dataset's).

The themes (EU data themes), coverage and checksums come from the dataset's own fields, which Kho's
publisher fills.
"""

from __future__ import annotations

from ckan.plugins import toolkit
from rdflib import BNode, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, Namespace

from ckanext.dcat.profiles import RDFProfile

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
SPDX = Namespace("http://spdx.org/rdf/terms#")
EU = "http://publications.europa.eu/resource/authority"
IANA = "https://www.iana.org/assignments/media-types/"

# CKAN's format label -> the EU file-type authority table
FILE_TYPES = {
    "CSV": "CSV",
    "XLSX": "XLSX",
    "XLS": "XLS",
    "JSON": "JSON",
    "GEOJSON": "GEOJSON",
    "XML": "XML",
    "PDF": "PDF",
    "ZIP": "ZIP",
}
# The licence's web page (licenses.json) -> the EU licence authority table
LICENCES = {
    "https://creativecommons.org/licenses/by/4.0/": "CC_BY_4_0",
    "https://creativecommons.org/licenses/by-sa/4.0/": "CC_BYSA_4_0",
    "https://creativecommons.org/publicdomain/zero/1.0/": "CC0",
    "https://opendatacommons.org/licenses/by/1-0/": "ODC_BY",
}
LICENCE_WORDS = {  # (Vietnamese, English): what the licence lets anyone do
    "CC_BY_4_0": (
        "Được tự do sử dụng lại, kể cả cho mục đích thương mại, với điều kiện ghi nguồn",
        "CC BY 4.0",
    ),
    "CC_BYSA_4_0": ("Được tự do sử dụng lại với điều kiện ghi nguồn và chia sẻ tương tự", "CC BY-SA 4.0"),
    "CC0": ("Được tự do sử dụng lại, không điều kiện", "CC0 1.0"),
    "ODC_BY": ("Được tự do sử dụng lại với điều kiện ghi nguồn", "ODC-By 1.0"),
}
STABLE = URIRef(f"{EU}/planned-availability/STABLE")
DATA_THEMES = URIRef(f"{EU}/data-theme")
ADMS = "http://purl.org/adms"
REGIONAL_AUTHORITY = URIRef(f"{ADMS}/publishertype/RegionalAuthority")
LICENCE_TYPES = {  # EU licence -> ADMS licence types
    "CC_BY_4_0": ["Attribution"],
    "CC_BYSA_4_0": ["Attribution", "ShareAlike"],
    "CC0": ["PublicDomain"],
    "ODC_BY": ["Attribution"],
}
# Labels of the concepts Kho uses (the shapes want a skos:prefLabel on each): Vietnamese, English
LABELS = {
    f"{EU}/data-theme/AGRI": (
        "Nông nghiệp, thủy sản, lâm nghiệp và thực phẩm",
        "Agriculture, fisheries, forestry and food",
    ),
    f"{EU}/data-theme/ECON": ("Kinh tế và tài chính", "Economy and finance"),
    f"{EU}/data-theme/EDUC": ("Giáo dục, văn hóa và thể thao", "Education, culture and sport"),
    f"{EU}/data-theme/ENER": ("Năng lượng", "Energy"),
    f"{EU}/data-theme/ENVI": ("Môi trường", "Environment"),
    f"{EU}/data-theme/GOVE": ("Chính quyền và khu vực công", "Government and public sector"),
    f"{EU}/data-theme/HEAL": ("Y tế", "Health"),
    f"{EU}/data-theme/INTR": ("Các vấn đề quốc tế", "International issues"),
    f"{EU}/data-theme/JUST": (
        "Tư pháp, hệ thống pháp luật và an toàn công cộng",
        "Justice, legal system and public safety",
    ),
    f"{EU}/data-theme/REGI": ("Vùng và đô thị", "Regions and cities"),
    f"{EU}/data-theme/SOCI": ("Dân số và xã hội", "Population and society"),
    f"{EU}/data-theme/TECH": ("Khoa học và công nghệ", "Science and technology"),
    f"{EU}/data-theme/TRAN": ("Giao thông vận tải", "Transport"),
    str(STABLE): ("Ổn định", "Stable"),
    str(REGIONAL_AUTHORITY): ("Chính quyền địa phương", "Regional authority"),
    f"{ADMS}/licencetype/Attribution": ("Ghi nguồn", "Attribution"),
    f"{ADMS}/licencetype/ShareAlike": ("Chia sẻ tương tự", "Share alike"),
    f"{ADMS}/licencetype/PublicDomain": ("Phạm vi công cộng", "Public domain"),
    f"{EU}/access-right/PUBLIC": ("Công khai", "Public"),
}

# property -> the class DCAT-AP 3.0.1's range shapes require of its value
RANGES = {
    DCTERMS.accessRights: DCTERMS.RightsStatement,
    DCTERMS.rights: DCTERMS.RightsStatement,
    DCTERMS.license: DCTERMS.LicenseDocument,
    DCTERMS.publisher: FOAF.Agent,
    DCTERMS.creator: FOAF.Agent,
    DCAT.contactPoint: VCARD.Kind,
    FOAF.homepage: FOAF.Document,
    DCAT.landingPage: FOAF.Document,
    FOAF.page: FOAF.Document,
    DCTERMS.language: DCTERMS.LinguisticSystem,
    DCTERMS.accrualPeriodicity: DCTERMS.Frequency,
    DCTERMS.spatial: DCTERMS.Location,
    DCTERMS.temporal: DCTERMS.PeriodOfTime,
    DCTERMS.provenance: DCTERMS.ProvenanceStatement,
    DCTERMS.conformsTo: DCTERMS.Standard,
    DCTERMS["format"]: DCTERMS.MediaTypeOrExtent,
    DCAT.mediaType: DCTERMS.MediaType,
    DCAT.theme: SKOS.Concept,
    DCATAP.availability: SKOS.Concept,
    SPDX.checksum: SPDX.Checksum,
}


class KhoDCATProfile(RDFProfile):
    def graph_from_dataset(self, dataset_dict, dataset_ref) -> None:
        g = self.g
        for distribution in list(g.objects(dataset_ref, DCAT.distribution)):
            self._distribution(distribution)
        self._state_classes()

    def graph_from_catalog(self, catalog_dict, catalog_ref) -> None:
        g = self.g
        for lang in list(g.objects(catalog_ref, DCTERMS.language)):
            if isinstance(lang, Literal):
                g.remove((catalog_ref, DCTERMS.language, lang))
        for code in ("VIE", "ENG"):  # the portal speaks Vietnamese, with English second
            g.add((catalog_ref, DCTERMS.language, URIRef(f"{EU}/language/{code}")))
        if not any(g.objects(catalog_ref, DCTERMS.publisher)):
            publisher = URIRef(toolkit.config.get("ckan.site_url").rstrip("/") + "/#publisher")
            config = toolkit.config
            name = config.get("ckanext.kho.catalog_publisher") or config.get("ckan.site_title")
            g.add((catalog_ref, DCTERMS.publisher, publisher))
            g.add((publisher, FOAF.name, Literal(name)))
        if not any(g.objects(catalog_ref, DCTERMS.license)):
            g.add((catalog_ref, DCTERMS.license, URIRef(f"{EU}/licence/CC0")))
            g.add((URIRef(f"{EU}/licence/CC0"), DCTERMS.type, URIRef(f"{ADMS}/licencetype/PublicDomain")))
        if not any(g.objects(catalog_ref, DCTERMS.spatial)):
            place = toolkit.config.get("ckanext.kho.catalog_spatial") or f"{EU}/country/VNM"
            g.add((catalog_ref, DCTERMS.spatial, URIRef(place)))
        g.add((catalog_ref, DCAT.themeTaxonomy, DATA_THEMES))
        g.add((DATA_THEMES, RDF.type, SKOS.ConceptScheme))
        g.add((DATA_THEMES, DCTERMS.title, Literal("Chủ đề dữ liệu", lang="vi")))
        g.add((DATA_THEMES, DCTERMS.title, Literal("Data theme", lang="en")))
        first = toolkit.get_action("package_search")(
            {"ignore_auth": True}, {"rows": 1, "sort": "metadata_created asc"}
        )["results"]
        if first and not any(g.objects(catalog_ref, DCTERMS.issued)):
            self._add_date_triple(catalog_ref, DCTERMS.issued, first[0]["metadata_created"])
        self._state_classes()

    def _distribution(self, distribution) -> None:
        g = self.g
        for fmt in list(g.objects(distribution, DCTERMS["format"])):
            code = FILE_TYPES.get(str(fmt).rsplit("/", 1)[-1].upper())
            if isinstance(fmt, Literal) and code:
                g.remove((distribution, DCTERMS["format"], fmt))
                g.add((distribution, DCTERMS["format"], URIRef(f"{EU}/file-type/{code}")))
        for media in list(g.objects(distribution, DCAT.mediaType)):
            if isinstance(media, Literal) and "/" in str(media):
                g.remove((distribution, DCAT.mediaType, media))
                g.add((distribution, DCAT.mediaType, URIRef(IANA + str(media))))
        for licence in list(g.objects(distribution, DCTERMS.license)):
            code = LICENCES.get(str(licence).removesuffix("deed.vi"))
            if code:
                g.remove((distribution, DCTERMS.license, licence))
                g.remove((licence, None, None))
                g.add((distribution, DCTERMS.license, URIRef(f"{EU}/licence/{code}")))
                for kind in LICENCE_TYPES[code]:
                    g.add(
                        (URIRef(f"{EU}/licence/{code}"), DCTERMS.type, URIRef(f"{ADMS}/licencetype/{kind}"))
                    )
                if not any(g.objects(distribution, DCTERMS.rights)):
                    rights = BNode()
                    words_vi, name = LICENCE_WORDS[code]
                    g.add((distribution, DCTERMS.rights, rights))
                    g.add((rights, RDFS.label, Literal(f"{words_vi} ({name}).", lang="vi")))
                    g.add((rights, RDFS.label, Literal(f"Open data, licensed {name}.", lang="en")))
        if not any(g.objects(distribution, DCATAP.availability)):
            g.add((distribution, DCATAP.availability, STABLE))

    def _state_classes(self) -> None:
        g = self.g
        for agent in set(g.objects(None, DCTERMS.publisher)):
            if not any(g.objects(agent, DCTERMS.type)):  # the province's agencies and portal
                g.add((agent, DCTERMS.type, REGIONAL_AUTHORITY))
        for prop, cls in {**RANGES, DCTERMS.type: SKOS.Concept}.items():
            for value in set(g.objects(None, prop)):
                if not isinstance(value, Literal):
                    g.add((value, RDF.type, cls))
        for concept in set(g.subjects(RDF.type, SKOS.Concept)):
            if not any(g.objects(concept, SKOS.prefLabel)):
                vi, en = LABELS.get(str(concept)) or (None, str(concept).rsplit("/", 1)[-1])
                if vi:
                    g.add((concept, SKOS.prefLabel, Literal(vi, lang="vi")))
                g.add((concept, SKOS.prefLabel, Literal(en, lang="en")))
