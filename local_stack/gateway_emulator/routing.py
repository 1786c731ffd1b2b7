"""Laravel's route matching for the emulated dataset routes (HDRUK/gateway-api ``config/routes.php`` at 9307af2, the
``datasets`` and ``datasets.integrations`` entries): which controller method, which ``check.access`` permission,
whether ``sanitize.input`` runs, and whether the route is public (no ``jwt.verify``). Every one of these routes
carries the ``sunset`` middleware (``app/Http/Middleware/SunsetHeader.php``): the integrations routes and the
``/datasets`` routes alike."""

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
    renders Laravel's NotFound/MethodNotAllowed exceptions (``app/Exceptions/Handler.php``)."""
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
