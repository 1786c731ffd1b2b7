"""Fill layers/shared/hdr_ingest/destinations/unis/schemas with UNIS's own JSON Schemas (periscope-ps/unis).

    python scripts/unis_schemas.py fetch      # copy from $UNIS_SCHEMAS_DIR, else download the pinned commits

Every file is checked against the sha256 in requirements/unis-schemas.lock.json, wherever it came from.
The schemas are upstream artifacts (BSD-3-Clause, Indiana University): they are never committed here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "unis-schemas.lock.json"
DEST = ROOT / "layers" / "shared" / "hdr_ingest" / "destinations" / "unis" / "schemas"
RAW = "https://raw.githubusercontent.com/{repository}/{commit}/{path}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(name: str, entry: dict[str, str], repository: str, mirror: str) -> bytes:
    if mirror:
        return (Path(mirror) / name).read_bytes()
    url = RAW.format(repository=repository, commit=entry["commit"], path=entry["path"])
    with urllib.request.urlopen(url, timeout=60) as response:
        return bytes(response.read())


def fetch() -> int:
    lock = json.loads(LOCK.read_text())
    files: dict[str, dict[str, str]] = lock["files"]
    mirror = os.environ.get("UNIS_SCHEMAS_DIR", "").strip()
    if DEST.is_dir() and all(
        (DEST / name).is_file() and sha256((DEST / name).read_bytes()) == entry["sha256"]
        for name, entry in files.items()
    ):
        print(f"UNIS schemas up to date ({len(files)} files)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        for name, entry in files.items():
            data = _read(name, entry, lock["repository"], mirror)
            if sha256(data) != entry["sha256"]:
                origin = f"{mirror}/{name}" if mirror else f"{lock['repository']}@{entry['commit']}:{entry['path']}"
                print(f"error: {origin} does not match the pinned sha256 in {LOCK.name}", file=sys.stderr)
                return 1
            (staging / name).write_bytes(data)
        if DEST.exists():
            shutil.rmtree(DEST)
        shutil.copytree(staging, DEST)
    origin = mirror or f"github.com/{lock['repository']}"
    print(f"UNIS schemas: {len(files)} files from {origin} -> {DEST.relative_to(ROOT)}")
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["fetch"]:
        return fetch()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
