"""Which record each element of a UNIS list is, across exports.

Seed 002 POSTs lists of metadata without ids and lets UNIS make them; UNIS's ids are random, so a list exported
again would make new records. An element is identified instead by its own ``id`` (or the configured
``CATALOGUE_ID_POINTER``) when it has one, else by its natural key: ``subject.href`` and ``eventType``, which
together say what the metadata describes. The element's ledger item and its UNIS id (our record key) derive from
the file's key and that identifier, so the same list, reordered or exported again, updates the same records.
Two elements of one file with the same identifier are both INVALID, each naming the other's path: which of them
is meant cannot be told.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hdr_ingest.core.catalogue import element_identifier
from hdr_ingest.core.outcome import ErrorDetail

NO_IDENTITY = (
    "has no id, and no subject.href with an eventType to tell it apart; each element of a UNIS list needs one or "
    "the other so that it keeps its record across exports. Add them and upload the file again."
)


def natural_key(element: Any) -> str | None:
    """``"<eventType> of <subject.href>"``, or None when either is missing or not a non-empty string."""
    if not isinstance(element, dict):
        return None
    subject, event = element.get("subject"), element.get("eventType")
    href = subject.get("href") if isinstance(subject, dict) else None
    if isinstance(href, str) and href.strip() and isinstance(event, str) and event.strip():
        return f"{event.strip()} of {href.strip()}"
    return None


def identify_elements(elements: list[Any], pointer: str | None = None) -> list[str | ErrorDetail]:
    """Each element's identifier, or why it has none that is its own (the element is then INVALID)."""
    own = [element_identifier(e, pointer) if isinstance(e, dict) else None for e in elements]
    found = [o if o is not None else natural_key(e) for o, e in zip(own, elements, strict=True)]
    where: defaultdict[str, list[int]] = defaultdict(list)
    for index, identifier in enumerate(found):
        if identifier is not None:
            where[identifier].append(index)
    result: list[str | ErrorDetail] = []
    for index, identifier in enumerate(found):
        if identifier is None:
            result.append(ErrorDetail(f"$[{index}]", NO_IDENTITY))
        elif len(where[identifier]) > 1:
            result.append(_repeated(index, where[identifier], identifier, natural=own[index] is None))
        else:
            result.append(identifier)
    return result


def _repeated(index: int, indexes: list[int], identifier: str, natural: bool) -> ErrorDetail:
    others = ", ".join(f"$[{i}]" for i in indexes if i != index)
    what = "subject.href and eventType" if natural else "id"
    message = (
        f"has the same {what} as {others} ({identifier!r}), so none of them can keep a record of its own; give each "
        "element its own id (or make them differ) and upload the file again."
    )
    return ErrorDetail(f"$[{index}]", message)
