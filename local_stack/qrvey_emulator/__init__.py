"""A local, stateful emulator of the parts of Qrvey's API the ``qrvey`` destination uses (``/devapi/v4``).

Behaviour follows ``shared/notes/destinations.md`` §2 (seed 003 and ``qrvey/backend_sample``):

* ``POST /user/{userId}/app/{appId}/qollect/dataset`` (create from scratch; the real path is not public, our
  route's ``createPath`` default), ``.../qollect/dataset/datasource`` (from an existing connection),
  ``.../qollect/dataset/all`` (search by name: ``CONTAINS`` on ``search``), ``GET``/``DELETE .../qollect/dataset/{id}``
  and ``POST .../qollect/dataset/{id}/load``.
* ``x-api-key`` checked on every call; Qrvey's errors in the envelope ``{"status": "error", "errors": [...]}``;
  what AWS API Gateway answers itself in front of it: a missing/wrong key → 403 ``{"message": "Forbidden"}``, an
  unknown path → 403 ``{"message": "Missing Authentication Token"}``.
* A dataset is ``DRAFT`` when created (a caller-chosen ``datasetId`` is kept, as seed 003 suggests; a taken one
  → 409, a guess); a load makes it ``LOADING``, but the first ``draft_reads`` reads still show ``DRAFT`` (default 1:
  undocumented on the real service), then after ``load_steps`` reads (GETs) it is ``LOADED``, or ``FAILED`` with
  ``errorMessage`` when a failure was scripted (:meth:`QrveyEmulator.fail_loads`).
  Counting reads, not time, keeps tests free of timing.
* Fault injection with the Gateway emulator's :class:`~local_stack.gateway_emulator.faults.FaultPlan` (latency,
  5xx, timeouts, dropped connections; ``throttle`` and the per-minute limit answer API Gateway's 429
  ``{"message": "Too Many Requests"}``, plus a ``Retry-After`` of the emulator's; a timeout API Gateway's 504
  ``{"message": "Endpoint request timed out"}``), and admin endpoints under ``/_emulator/`` (faults, reset,
  requests, datasets, loads, keys, health).

Sources: each behaviour names its own in :mod:`.server`; what is unknown about the real service (the Create
Dataset path, success codes, Qrvey's error words, what a read shows between a load's start and end) is said there.
"""

from .server import API_PREFIX, QrveyEmulator

__all__ = ["API_PREFIX", "QrveyEmulator"]
