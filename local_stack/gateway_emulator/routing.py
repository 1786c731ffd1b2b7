"""Laravel's route matching for the emulated dataset routes (HDRUK/gateway-api 57e1406 ``config/routes.php``, the
``datasets`` entries and the ``datasets.integrations`` ones at lines 2589-2672, registered under ``api/v1`` by
``routes/api.v1.php``; ``shared/notes/hdruk-gateway.md`` §(a)): which controller method, which ``check.access``
permission, whether ``sanitize.input`` runs, and whether the route is public (no ``jwt.verify``). The ``{id}``
constraint is ``[0-9]+`` (the same entries), so ``/datasets/abc`` is an unknown route. Every one of these routes
carries the ``sunset`` middleware (``app/Http/Middleware/SunsetHeader.php``, added in 383c7a1cb): the integrations
routes and the ``/datasets`` routes alike. No PATCH is registered for the integrations route (notes §(a): the
controller's ``edit()`` has no route), so a PATCH there is the 500 of an unsupported method."""

from __future__ import annotations

import re

from .replies import _error, _Reply, _Route

# method -> (controller method, permission, sanitize.input, public)
_Entry = tuple[str, str | None, bool, bool]
_TABLE: tuple[tuple[re.Pattern[str], dict[str, _Entry]], ...] = (
    (
        re.compile(r"^/api/v1/integrations/datasets$"),
        {"GET": ("index", "datasets.read", False, False), "POST": ("store", "datasets.create", True, False)},
    ),
    (re.compile(r"^/api/v1/integrations/datasets/test$"), {"POST": ("test", None, True, False)}),
    (
        re.compile(r"^/api/v1/integrations/datasets/([0-9]+)$"),
        {
            "GET": ("show", "datasets.read", False, False),
            "PUT": ("update", "datasets.update", True, False),
            "DELETE": ("destroy", "datasets.delete", False, False),
        },
    ),
    # DatasetController: POST/PUT with //'sanitize.input' commented out; GET index and show public.
    (
        re.compile(r"^/api/v1/datasets$"),
        {"GET": ("v1_index", None, False, True), "POST": ("v1_store", "datasets.create", False, False)},
    ),
    (
        re.compile(r"^/api/v1/datasets/([0-9]+)$"),
        {
            "GET": ("v1_show", None, False, True),
            "PUT": ("v1_update", "datasets.update", False, False),
            "PATCH": ("v1_patch", "datasets.update", False, False),
            "DELETE": ("v1_destroy", "datasets.delete", False, False),
        },
    ),
)


def match_route(method: str, path: str) -> _Route | _Reply:
    """The route for ``method path``; an unknown route or method is a 500, as the Gateway's exception handler
    renders Laravel's NotFound/MethodNotAllowed exceptions (``app/Exceptions/Handler.php::render`` takes the status
    from ``getCode()``, 0 for these, and falls back to 500: notes §(a) "Error responses"; the PATCH case is marked
    inferred there). The messages are Symfony's/Laravel's own wording for these two exceptions (``The route … could
    not be found.``, ``The … method is not supported for route …``); HEAD is answered by every GET route, as
    Laravel's router registers GET routes for HEAD too."""
    for pattern, methods in _TABLE:
        match = pattern.match(path)
        if match is None:
            continue
        entry = methods.get("GET" if method == "HEAD" else method)
        if entry is None:
            allowed = [m for name in methods for m in ((name, "HEAD") if name == "GET" else (name,))]
            return _error(
                500,
                f"The {method} method is not supported for route {path.lstrip('/')}. "
                f"Supported methods: {', '.join(allowed)}.",
            )
        name, permission, sanitize, public = entry
        dataset_id = int(match.group(1)) if match.groups() else 0
        return _Route(name, permission, sanitize=sanitize, public=public, dataset_id=dataset_id)
    return _error(500, f"The route {path.lstrip('/')} could not be found.")


def carries_sunset(path: str) -> bool:
    """Whether ``path`` is one of the emulated routes, all of which answer with Deprecation and Sunset headers."""
    return path.startswith(("/api/v1/integrations/datasets", "/api/v1/datasets"))


def is_integrations(path: str) -> bool:
    return path == "/api/v1/integrations/datasets" or path.startswith("/api/v1/integrations/datasets/")
