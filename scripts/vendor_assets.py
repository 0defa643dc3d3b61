#!/usr/bin/env python3
"""Vendor the web pages' third-party assets from the npm registry into the repository.

Run by hand when an asset is added or upgraded (never at run time or in CI):

    python3 scripts/vendor_assets.py          # fetch, verify, write
    python3 scripts/vendor_assets.py --check  # verify the committed files against VERSIONS

Each asset is a pinned version of an npm package: the script asks the registry for that
version's tarball URL and its integrity hash (sha512), downloads it, checks the hash, and
copies the named files and the package's licence into src/qunguan/web/static/vendor/,
recording name, version, integrity and the sha256 of every file in VERSIONS.json.
Only the standard library is used, so it runs before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
VENDOR = Path(__file__).resolve().parent.parent / "src" / "qunguan" / "web" / "static" / "vendor"
# package -> (version, {file in the package: file name in vendor/}). htmx 2: the stable line
# the pages are written against (4.x is a new major with changed attribute semantics).
ASSETS: dict[str, tuple[str, dict[str, str]]] = {
    "htmx.org": ("2.0.11", {"package/dist/htmx.min.js": "htmx.min.js",
                           "package/LICENSE": "htmx.LICENSE.txt"}),
    # The officer dashboards' and the cascade page's charts (Apache-2.0: licence and NOTICE).
    "echarts": ("6.1.0", {"package/dist/echarts.min.js": "echarts.min.js",
                          "package/LICENSE": "echarts.LICENSE.txt",
                          "package/NOTICE": "echarts.NOTICE.txt"}),
}


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https only)
        return bytes(response.read())


def vendor(package: str, version: str, files: dict[str, str]) -> dict[str, object]:
    meta = json.loads(fetch(f"{REGISTRY}/{package}/{version}"))
    tarball, integrity = meta["dist"]["tarball"], meta["dist"]["integrity"]
    if not tarball.startswith("https://"):
        raise SystemExit(f"{package}: refusing a non-https tarball URL {tarball}")
    data = fetch(tarball)
    algo, _, expected = integrity.partition("-")
    if algo != "sha512" or base64.b64encode(hashlib.sha512(data).digest()).decode() != expected:
        raise SystemExit(f"{package}@{version}: the tarball does not match its integrity hash")
    written: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member, target in files.items():
            extracted = archive.extractfile(member)
            if extracted is None:
                raise SystemExit(f"{package}@{version}: {member} is not a file")
            content = extracted.read()
            (VENDOR / target).write_bytes(content)
            written[target] = hashlib.sha256(content).hexdigest()
    return {"version": version, "integrity": integrity, "tarball": tarball,
            "licence": meta.get("license"), "files": written}


def check() -> int:
    recorded = json.loads((VENDOR / "VERSIONS.json").read_text())
    bad = 0
    for package, (version, files) in ASSETS.items():
        entry = recorded.get(package, {})
        if entry.get("version") != version:
            print(f"{package}: VERSIONS.json has {entry.get('version')}, script pins {version}")
            bad += 1
        for target in files.values():
            path = VENDOR / target
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
            if digest != entry.get("files", {}).get(target):
                print(f"{package}: {target} differs from VERSIONS.json")
                bad += 1
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify, download nothing")
    args = parser.parse_args()
    if args.check:
        return check()
    VENDOR.mkdir(parents=True, exist_ok=True)
    versions = {package: vendor(package, version, files)
                for package, (version, files) in ASSETS.items()}
    (VENDOR / "VERSIONS.json").write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n")
    print(json.dumps(versions, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
