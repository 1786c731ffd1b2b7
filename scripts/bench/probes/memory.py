"""Peak memory of one large document, run in a fresh interpreter: the handler module and its runtime loaded (and a
small document judged, ``argv[2]``), then the document in ``argv[1]`` read, parsed, fingerprinted, judged and encoded
as the Gateway request body, each step as the pipeline and the HDR UK client take it. Prints the peak resident set
size (VmHWM) before and after, in MB."""

import hashlib
import json
import sys

import app  # noqa: F401 - the handler module, as Lambda imports it
from hdr_ingest.core.document import canonical_bytes, canonical_json, compact_json, parse_export
from hdr_ingest.entry.runtime import get_runtime


def rss_mb() -> float:
    """Peak resident set size so far: VmHWM. (ru_maxrss would not do: Linux carries it over from the parent across
    fork and exec, so it would report the bench's own peak.)"""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


runtime = get_runtime()
hdruk = next(route.destination for route in runtime.pipeline.routes if route.destination.kind == "hdruk")
with open(sys.argv[2], "rb") as file:
    small = json.loads(file.read())
hdruk.judge(small, canonical_json(small))
loaded = rss_mb()
with open(sys.argv[1], "rb") as file:
    data = file.read()  # the S3 object body
document = parse_export(data)  # decode + parse
canonical = canonical_bytes(document)  # as usecases/publish.py: serialised once, the digest then the judge's text
digest = hashlib.sha256(canonical).hexdigest()  # canonical fingerprint (ledger)
text = canonical.decode("utf-8")
del canonical
verdict = hdruk.judge(document, text)  # as the pipeline judges
assert verdict.valid, verdict.summary
del text
body = {"metadata": {"metadata": document}, "datasetid": "hgi-bench", "status": "ACTIVE"}
payload = compact_json(body)  # the Gateway request body, as the HDR UK client encodes it
print(json.dumps({"loaded": loaded, "peak": rss_mb(), "bytes": len(data)}))
