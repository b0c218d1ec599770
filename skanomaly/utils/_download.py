"""Downloads with a checksum, into a local cache: data sets and weights."""

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["data_home", "download", "sha256_of"]


def data_home(data_home=None):
    """The folder where downloaded data sets and weights are kept.

    ``data_home`` if given, else the ``SKANOMALY_DATA`` environment
    variable, else ``~/skanomaly_data``.
    """
    if data_home is None:
        data_home = os.environ.get("SKANOMALY_DATA", Path("~") / "skanomaly_data")
    return Path(data_home).expanduser()


def sha256_of(path):
    """The SHA-256 hex digest of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url, target, sha256, instead):
    """Download ``url`` to ``target``, checking its SHA-256.

    The file is written next to ``target`` and moved into place only once
    complete and checked, so an interrupted download leaves nothing behind.
    ``instead`` ends the error messages: how to do without the download
    (``"pass its path with path=..."``).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(
                partial, "wb"
            ) as f:
                shutil.copyfileobj(response, f)
        except (urllib.error.URLError, OSError) as exc:
            raise OSError(
                f"Could not download {url} to {target} ({exc}). Download the "
                f"file yourself and {instead}"
            ) from exc
        found = sha256_of(partial)
        if found != sha256:
            raise OSError(
                f"The file downloaded from {url} is corrupt: its SHA-256 is "
                f"{found}, expected {sha256}. Try again, or download it "
                f"yourself and {instead}"
            )
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
    return target
