"""Artifacts by URL: a local folder (the default) or an object store such as `s3://bucket/prefix`.

Rounds always write a version into a local folder first (see `training.artifacts`). On a local
store that folder is the version. On an object store it is then published: every file is
uploaded under the version's prefix and a manifest (`quartet_manifest.json`, names, sizes and
SHA-256 of every file) is written last. Object stores have no atomic rename of a prefix, so the
manifest is what makes a version visible: a loader refuses a prefix without one, and a round
killed mid-publish leaves only files no loader will read.

Loading a URL downloads the version once into a local cache folder keyed by the URL (versions
are immutable: a run's prefix is never rewritten), built in a temporary sibling and renamed into
place, so two workers on one machine never read each other's half-download.

Credentials and endpoints come from the usual places of the backend (for s3fs: AWS_* variables,
`AWS_ENDPOINT_URL` for an S3-compatible server); `storage_options` passes anything else.
Torch-free.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fsspec.core import url_to_fs

MANIFEST = "quartet_manifest.json"
_CHUNK = 1 << 20


def is_remote(url: str | os.PathLike) -> bool:
    """True for a URL with a scheme other than file:// (those need publishing and a cache)."""
    text = str(url)
    return "://" in text and not text.startswith("file://")


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return posixpath.join(base.rstrip("/"), *parts)
    return str(Path(base.removeprefix("file://"), *parts))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class ArtifactStore:
    """Where versions live (`root`) and where this machine caches the ones it loads."""

    root: str  # folder path, file:// URL, or e.g. s3://bucket/prefix
    cache_dir: str  # local folder for downloaded versions; safe to delete when no round runs
    storage_options: dict = field(default_factory=dict)  # passed to fsspec for remote roots

    def _fs(self, url: str):
        fs, path = url_to_fs(url, **(self.storage_options if is_remote(url) else {}))
        return fs, path

    def version_url(self, *parts: str) -> str:
        return join(self.root, *parts)

    def is_published(self, url: str) -> bool:
        """A remote version is visible once its manifest exists; a local folder once it exists
        (local folders are renamed into place whole)."""
        if not is_remote(url):
            return Path(url.removeprefix("file://")).is_dir()
        fs, path = self._fs(url)
        fs.invalidate_cache()  # another machine may have published since we last listed
        return fs.exists(posixpath.join(path, MANIFEST))

    def publish(self, local_dir: str | os.PathLike, url: str) -> str:
        """Upload a finished local version folder to `url`, manifest last; returns `url`.

        Precondition: `local_dir` is complete. Refuses a `url` that is already published
        (versions are immutable). Files left by an earlier attempt that died before its manifest
        are overwritten. A local `url` must be `local_dir` itself (rounds write there directly).
        """
        local = Path(local_dir)
        if not is_remote(url):
            if Path(url.removeprefix("file://")).resolve() != local.resolve():
                raise ValueError(f"local version {url!r} must be written in place, not copied")
            return url
        if self.is_published(url):
            raise ValueError(f"artifact version {url!r} is already published")
        fs, path = self._fs(url)
        files = sorted(p for p in local.rglob("*") if p.is_file())
        manifest = {"files": {}}
        for p in files:
            rel = p.relative_to(local).as_posix()
            manifest["files"][rel] = {"size": p.stat().st_size, "sha256": _sha256(p)}
            self._upload(fs, p, posixpath.join(path, rel))
        with fs.open(posixpath.join(path, MANIFEST), "w") as f:
            f.write(json.dumps(manifest, indent=1, sort_keys=True))
        return url

    def _upload(self, fs, local_file: Path, remote_path: str) -> None:
        fs.put_file(str(local_file), remote_path)

    def fetch(self, url: str) -> str:
        """A local folder holding the version at `url`, downloading it into the cache if needed.

        Local paths are returned as they are. Raises ValueError when a remote version has no
        manifest (never published, or its publish was killed) or a file does not match it.
        """
        if not is_remote(url):
            return url.removeprefix("file://")
        key = hashlib.sha256(url.encode()).hexdigest()[:20]
        target = Path(self.cache_dir) / f"{key}-{posixpath.basename(url.rstrip('/'))}"
        if target.is_dir():
            return str(target)
        fs, path = self._fs(url)
        fs.invalidate_cache()
        try:
            with fs.open(posixpath.join(path, MANIFEST), "r") as f:
                manifest = json.loads(f.read())
        except FileNotFoundError:
            raise ValueError(f"artifact version {url!r} is not published (no {MANIFEST})") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            for rel, meta in manifest["files"].items():
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                fs.get_file(posixpath.join(path, rel), str(dest))
                if dest.stat().st_size != meta["size"] or _sha256(dest) != meta["sha256"]:
                    raise ValueError(f"artifact file {url}/{rel} does not match its manifest")
            (tmp / MANIFEST).write_text(json.dumps(manifest))
            os.chmod(tmp, 0o755)
            try:
                os.replace(tmp, target)
            except OSError:
                if not target.is_dir():  # not a concurrent download that finished first
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return str(target)

