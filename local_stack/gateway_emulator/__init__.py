"""A local emulator of the HDR UK Gateway's dataset APIs: the deprecated ``/api/v1/integrations/datasets`` and
its successor ``/api/v1/datasets`` (``DatasetController``).

Behaviour follows ``shared/notes/hdruk-gateway.md`` (a), (b), (c) and (f) and HDRUK/gateway-api's controllers:

* Routes (:mod:`.routing`): ``GET``/``POST /api/v1/integrations/datasets``, ``GET``/``PUT``/``DELETE .../{id}``,
  ``POST .../test`` (:mod:`.integrations`); ``GET``/``POST /api/v1/datasets``, ``GET``/``PUT``/``PATCH``/
  ``DELETE /api/v1/datasets/{id}`` (:mod:`.datasets`; GET public, no HTML-encoding). Unknown routes and methods
  answer 500 the way the Gateway's exception handler does.
* Auth with ``x-application-id`` + ``x-client-id`` (or ``app_id`` + ``client_id`` with
  ``legacy_headers=True``), the same 401/400 statuses and messages, ``{"code":..,"message":..}`` error bodies.
* ``Deprecation: true`` / ``Sunset: Thurs, 22 Jan 2026 23:59:59 GMT`` on both routes' responses (not on
  throttled ones: Laravel's throttle middleware runs before the route's ``sunset`` middleware).
* Pre-processing (trim, ``""`` -> null everywhere, ``htmlentities(ENT_QUOTES)`` on the integrations POST/PUT;
  :mod:`.sanitize`), then TRASER's verdict from TRASER's own validator, Ajv 8 + ajv-formats with TRASER's options
  in a Node worker (:mod:`.traser_node`; a test may inject another validator), with the Gateway's 400 "unknown
  format" body on rejection. The emulator shares no code with the function's judge (``hdr_ingest.destinations``).
* PUT overwrites the latest version in place and bumps ``version``; DELETE archives (soft delete).
* Fault injection (:class:`FaultPlan`, including the ``integrations_removed`` switch) and admin endpoints under
  ``/_emulator/`` (faults, reset, requests, datasets, apps, health).

What the emulator does not do: translate to GWDM (stored ``metadata.metadata`` is the input document, as is
``original_metadata``), validate TRASER's GWDM output, rewrite ``required``/``revisions``, or run term/linkage
extraction.
"""

from .faults import FaultDecision, FaultPlan, parse_step
from .sanitize import Preprocessing, htmlentities, preprocess
from .server import (
    ALL_DATASET_PERMISSIONS,
    API_PREFIX,
    DEPRECATION_HEADERS,
    App,
    GatewayEmulator,
    RequestRecord,
)
from .store import DatasetStore
from .validation import SchemaTarget, TraserOutcome, Validator, run_traser

__all__ = [
    "ALL_DATASET_PERMISSIONS",
    "API_PREFIX",
    "DEPRECATION_HEADERS",
    "App",
    "DatasetStore",
    "FaultDecision",
    "FaultPlan",
    "GatewayEmulator",
    "Preprocessing",
    "RequestRecord",
    "SchemaTarget",
    "TraserOutcome",
    "Validator",
    "htmlentities",
    "parse_step",
    "preprocess",
    "run_traser",
]
