"""What a cold Lambda instance does before its first record, run in a fresh interpreter: import the handler module,
then (first call) build the runtime (settings, adapters, pipeline; no AWS client yet), load the schema pack and
judge the document in ``argv[1]`` as the pipeline does ("ready"). Then what the first record adds before its first
request ("ready_clients"): the S3, DynamoDB and Secrets Manager clients from the runtime's session, the ledger's
attribute serialiser and Powertools' secrets provider on that client."""

import json
import sys
import time

started = time.perf_counter()
import app  # noqa: E402,F401 - the handler module, as Lambda imports it

imported = time.perf_counter()
from hdr_ingest.entry.runtime import get_runtime  # noqa: E402

runtime = get_runtime()
assert runtime.clients is not None
built = time.perf_counter()
from hdr_ingest.core.document import canonical_json  # noqa: E402

with open(sys.argv[1], encoding="utf-8") as file:
    document = json.load(file)
hdruk = next(route.destination for route in runtime.pipeline.routes if route.destination.kind == "hdruk")
verdict = hdruk.judge(document, canonical_json(document))  # as the pipeline judges (the pack loads here)
assert verdict.valid, verdict.summary
done = time.perf_counter()
ready = time.time()
made = runtime.clients.client("s3"), runtime.clients.client("dynamodb")  # the object store's and the ledger's
from aws_lambda_powertools.utilities import parameters  # noqa: E402

from hdr_ingest.adapters.aws.dynamodb_ledger import typed  # noqa: E402

typed({"source": "s3://bucket/key"})
parameters.SecretsProvider(boto3_client=runtime.clients.client("secretsmanager"))
assert sorted(runtime.clients.created()) == ["dynamodb", "s3", "secretsmanager"], runtime.clients.created()
clients = time.perf_counter()
timings = {"import": imported - started, "runtime": built - imported, "pack": done - built, "clients": clients - done}
print(json.dumps({"ready": ready, "ready_clients": time.time(), **timings}))
