"""Fill the schema pack (layers/shared/hdr_ingest/destinations/hdruk/schemata) from the pinned HDRUK/schemata commit.

    python scripts/schema_pack.py fetch            # copy from $HDRUK_SCHEMATA_DIR, else download
    python scripts/schema_pack.py lock DIR         # rewrite requirements/schemata.lock.json from a mirror

Every file is checked against the sha256 in requirements/schemata.lock.json, wherever it came from.
The schemas are upstream artifacts (Apache-2.0, HDR UK): they are never committed to this repository.
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
LOCK = ROOT / "requirements" / "schemata.lock.json"
DEST = ROOT / "layers" / "shared" / "hdr_ingest" / "destinations" / "hdruk" / "schemata"
RAW = "https://raw.githubusercontent.com/HDRUK/schemata/{commit}/{path}"


def upstream_path(name: str) -> str:
    """Where a pack file lives in the HDRUK/schemata repository."""
    return name if name in ("available.json", "LICENSE") else f"hdr_schemata/models/{name}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch() -> int:
    lock = json.loads(LOCK.read_text())
    mirror = os.environ.get("HDRUK_SCHEMATA_DIR", "").strip()
    if DEST.is_dir() and all(
        (DEST / name).is_file() and sha256((DEST / name).read_bytes()) == digest
        for name, digest in lock["files"].items()
    ):
        print(f"schema pack up to date ({len(lock['files'])} files, HDRUK/schemata {lock['commit'][:12]})")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        for name, digest in lock["files"].items():
            if mirror:
                data = (Path(mirror) / name).read_bytes()
            else:
                url = RAW.format(commit=lock["commit"], path=upstream_path(name))
                with urllib.request.urlopen(url, timeout=60) as response:
                    data = response.read()
            if sha256(data) != digest:
                origin = f"{mirror}/{name}" if mirror else name
                print(f"error: {origin} does not match the pinned sha256 in {LOCK.name}", file=sys.stderr)
                return 1
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if DEST.exists():
            shutil.rmtree(DEST)
        shutil.copytree(staging, DEST)
    origin = mirror or f"github.com/HDRUK/schemata@{lock['commit'][:12]}"
    print(f"schema pack: {len(lock['files'])} files from {origin} -> {DEST.relative_to(ROOT)}")
    return 0


def relock(mirror: Path, commit: str) -> int:
    available = json.loads((mirror / "available.json").read_text())
    names = ["available.json", "LICENSE"] + [
        f"{model}/{version}/schema.json" for model, versions in available.items() for version in versions
    ]
    files = {name: sha256((mirror / name).read_bytes()) for name in names}
    LOCK.write_text(json.dumps({"repository": "HDRUK/schemata", "commit": commit, "files": files}, indent=2) + "\n")
    print(f"wrote {LOCK.relative_to(ROOT)} ({len(files)} files)")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["fetch"]:
        return fetch()
    if argv[:1] == ["lock"] and len(argv) == 3:
        return relock(Path(argv[1]), argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
