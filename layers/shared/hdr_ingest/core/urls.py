"""The check of every destination URL (a route's url, the Gateway's, an AEP route's imsUrl): pure, so the settings
and each destination's route checks share one rule."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit


def url_problem(url: str, allow_local: bool) -> str | None:
    """What is wrong with a destination's base URL, or ``None``. https only, a host and a real port, no
    user-info (requests would send it as a Basic Authorization header on every call), no query or fragment, no
    white space; loopback, link-local and private hosts (and plain http) only where local destinations are
    allowed (``ALLOW_LOCAL_DESTINATIONS=true``: the local stack and the tests)."""
    if any(c.isspace() for c in url):
        return "must not contain white space"
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return "has no valid port (1-65535)"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an https URL with a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry user-info (user:password@): put credentials in the route's secret"
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        return "must not have a query or a fragment"
    if port == 0:
        return "has no valid port (1-65535)"
    local = _is_local(parts.hostname)
    if (local or parts.scheme == "http") and not allow_local:
        what = "a loopback, link-local or private host" if local else "plain http"
        return f"uses {what}: allowed only with ALLOW_LOCAL_DESTINATIONS=true (the local stack)"
    return None


def _is_local(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # A host of numbers that is not a plain address (2130706433, 0x7f.1, 127.1) is an IP in an old form the
        # resolver still accepts: it may be loopback or private, so it counts as local.
        return _NUMERIC_HOST.fullmatch(host) is not None
    return address.is_loopback or address.is_link_local or address.is_private or address.is_unspecified


_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.IGNORECASE)
