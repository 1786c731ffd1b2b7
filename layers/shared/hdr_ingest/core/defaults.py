"""Each default of the function's settings, written once: the settings, the destinations' common options, the
pipeline's own settings and the CLI all read them from here."""

from __future__ import annotations

CONNECT_TIMEOUT_S = 3.05  # the wait for a connection: slightly over a multiple of TCP's 3 s retransmit
READ_TIMEOUT_S = 30.0  # the wait for an answer, always capped by the invocation's remaining time
MAX_ATTEMPTS = 3  # calls to a destination per delivery, for transient failures
MAX_RECEIVE_COUNT = 5  # deliveries of one message before SQS moves it to the dead-letter queue (template.yaml)
SECRET_MAX_AGE_S = 300  # how long a secret read from Secrets Manager is reused
