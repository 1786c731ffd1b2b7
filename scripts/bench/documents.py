"""Generated HDRUK 4.0.0 documents: a complete base document grown with structural metadata (tables x columns) to a
size, re-encoded variants (characters the Gateway HTML-encodes), and the files the handler and bulk sections drop."""

from __future__ import annotations

import copy
import json
from typing import Any

# A complete HDRUK 4.0.0 document; the generator adds structural metadata to reach a size.
BASE_DOCUMENT: dict[str, Any] = {
    "identifier": "https://example.org/datasets/northshire-asthma-cohort",
    "version": "2.3.0",
    "revisions": [{"version": "2.2.0", "url": "https://example.org/datasets/northshire-asthma-cohort/2.2.0"}],
    "issued": "2023-03-14T09:00:00Z",
    "modified": "2025-06-02T16:45:00Z",
    "summary": {
        "title": "Northshire Paediatric Asthma Cohort",
        "abstract": "Linked primary care and emergency attendance records for children with an asthma diagnosis "
        "in the fictional county of Northshire, 2010 onwards.",
        "dataCustodian": {
            "identifier": "https://ror.org/00northshire",
            "name": "Northshire Health Data Service",
            "contactPoint": "data.access@northshire.example.org",
        },
        "populationSize": 18250,
        "keywords": ["Asthma", "Paediatrics", "Emergency care", "Primary care"],
        "contactPoint": "data.access@northshire.example.org",
    },
    "documentation": {
        "description": "Every child (0-17) registered with a Northshire GP practice who has a coded asthma "
        "diagnosis. Records are pseudonymised at source and refreshed quarterly."
    },
    "coverage": {"spatial": "Northshire, England", "typicalAgeRangeMin": 0, "typicalAgeRangeMax": 17},
    "provenance": {
        "origin": {"datasetType": [{"name": "Health and disease", "subTypes": []}]},
        "temporal": {"publishingFrequency": "Quarterly", "startDate": "2010-01-01", "timeLag": "1-2 months"},
    },
    "accessibility": {
        "access": {
            "accessRights": "https://northshire.example.org/data-access",
            "jurisdiction": ["GB-ENG"],
            "dataController": "Northshire Health Data Service",
        },
        "formatAndStandards": {
            "vocabularyEncodingScheme": ["SNOMED CT", "ICD10"],
            "conformsTo": ["LOCAL"],
            "language": ["en"],
            "format": ["text/csv"],
        },
    },
    "observations": [
        {
            "observedNode": "Persons",
            "measuredValue": 18250,
            "observationDate": "2025-04-01",
            "measuredProperty": "Count",
            "disambiguatingDescription": "Children with a coded asthma diagnosis",
        }
    ],
}


def _table(index: int, columns: int) -> dict[str, Any]:
    return {
        "name": f"episode_table_{index}",
        "description": f"Table {index} of the extract: one row per attendance, refreshed quarterly.",
        "columns": [
            {
                "name": f"field_{index}_{c}",
                "dataType": ("VARCHAR(255)", "INTEGER", "DATE", "BOOLEAN")[c % 4],
                "description": f"Field {c} of table {index}, as recorded by the attending clinician.",
                "sensitive": c % 7 == 0,
                **({"values": [{"name": "Y", "description": "Yes", "frequency": 1200}]} if c % 10 == 0 else {}),
            }
            for c in range(columns)
        ],
    }


def hdruk400(size_bytes: int, columns_per_table: int = 100, name: str = "") -> dict[str, Any]:
    """A valid HDRUK 4.0.0 document of about ``size_bytes`` (serialised without indentation)."""
    document = copy.deepcopy(BASE_DOCUMENT)
    if name:
        document["identifier"] = f"https://example.org/datasets/{name}"
        document["summary"]["title"] = f"Bench dataset {name}"
    size = len(json.dumps(document)) + len(', "structuralMetadata": {"tables": []}')
    if size_bytes <= size:
        return document
    columns = columns_per_table
    if size_bytes - size < len(json.dumps(_table(0, columns))):  # small documents: one table, fewer columns
        per_column = len(json.dumps(_table(0, 10))) / 10
        columns = max(1, int((size_bytes - size) / per_column))
    tables: list[dict[str, Any]] = []
    while True:
        table = _table(len(tables), columns)
        grown = size + len(json.dumps(table)) + (2 if tables else 0)
        if tables and grown > size_bytes:
            break
        tables.append(table)
        size = grown
    document["structuralMetadata"] = {"tables": tables}
    return document


# "EMIS Web®" is in HDR UK's own HDRUK 4.0.0 example; custodians' abstracts carry apostrophes, ampersands,
# accented names and curly quotes. Each of these the Gateway HTML-encodes.
REAL_TEXT = {
    ("summary", "abstract"): " Extracted from EMIS Web® and SystmOne; it's linked by NHS Digital's Bureau Service.",
    ("summary", "title"): " (Zoë’s “R&D” extract)",
    ("documentation", "description"): ' Values > 10 & < 20 are "suppressed" (see <https://example.org>).',
}


def re_encoded(document: dict[str, Any], dense: bool = False) -> dict[str, Any]:
    """``document`` with real metadata's characters in its free text, which the Gateway HTML-encodes: a few
    fields (as HDR UK's own example), or with ``dense`` also every table's description and every tenth
    column's (about one string in forty)."""
    out = copy.deepcopy(document)
    for (section, field), extra in REAL_TEXT.items():
        out[section][field] += extra
    if dense:
        for table in out.get("structuralMetadata", {}).get("tables", []):
            table["description"] += " (Zoë's extract)"
            for index, column in enumerate(table["columns"]):
                if index % 10 == 0:
                    column["description"] += " – values > 10 & < 20"
    return out


def exported(size: int, name: str, revision: int = 0, encoded: bool = False, indent: int | None = 1) -> bytes:
    """A document as a custodian exports it (indented by default): revision ``revision`` of dataset ``name``."""
    document = hdruk400(size, name=name)
    document["version"] = f"2.3.{revision}"
    document["summary"]["abstract"] += f" Revision {revision}."
    if encoded:
        document = re_encoded(document)
    return json.dumps(document, indent=indent).encode("utf-8")


def drop(prefix: str, files: int, revision: int = 0) -> dict[str, bytes]:
    """``files`` documents of about 4 KB (compact JSON), keyed by their S3 keys under ``incoming/``."""
    return {
        f"incoming/{prefix}-{index:05d}.json": exported(4096, f"{prefix}-{index:05d}", revision, indent=None)
        for index in range(files)
    }
