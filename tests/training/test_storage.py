"""The artifact store: versions published to an S3-compatible server (moto on localhost),
visible only once complete, loaded through a per-machine cache."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.s3_support import s3_bucket, s3_server  # noqa: F401 (fixtures)
from training.storage import MANIFEST, ArtifactStore, is_remote, join

REPO = Path(__file__).resolve().parents[2]


def _version(folder: Path) -> Path:
    """A small stand-in for a saved model: weights, config and a nested file."""
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(os.urandom(300_000))
    (folder / "config.json").write_text(json.dumps({"n_layer": 2}))
    (folder / "sub").mkdir()
    (folder / "sub" / "tokenizer.json").write_text("{}")
    return folder


def _files(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST
    }


def test_urls_and_local_paths():
    assert is_remote("s3://b/p") and not is_remote("/srv/a") and not is_remote("file:///srv/a")
    assert join("s3://b/p/", "proj", "policy", "run-3") == "s3://b/p/proj/policy/run-3"
    assert join("/srv/a", "proj", "run-3") == "/srv/a/proj/run-3"


def test_a_local_store_uses_the_round_s_folder_as_the_version(tmp_path):
    store = ArtifactStore(root=str(tmp_path / "art"), cache_dir=str(tmp_path / "cache"))
    v = _version(tmp_path / "art" / "p" / "run-1")
    assert store.publish(v, str(v)) == str(v)
    assert store.fetch(str(v)) == str(v) and store.is_published(str(v))
    assert not (tmp_path / "cache").exists()  # nothing copied on one machine
    with pytest.raises(ValueError, match="written in place"):
        store.publish(v, str(tmp_path / "elsewhere"))


def test_a_worker_with_an_empty_cache_loads_what_another_published(tmp_path, s3_bucket):
    trainer = ArtifactStore(root=f"{s3_bucket}/quartet", cache_dir=str(tmp_path / "cache-a"))
    sampler = ArtifactStore(root=f"{s3_bucket}/quartet", cache_dir=str(tmp_path / "cache-b"))
    local = _version(tmp_path / "staging" / "v")
    url = trainer.version_url("proj", "policy", "run-7")
    assert not sampler.is_published(url)
    assert trainer.publish(local, url) == url
    assert sampler.is_published(url)

    loaded = Path(sampler.fetch(url))
    assert loaded.parent == tmp_path / "cache-b"
    assert _files(loaded) == _files(local)
    manifest = json.loads((loaded / MANIFEST).read_text())
    assert set(manifest["files"]) == {"model.safetensors", "config.json", "sub/tokenizer.json"}
    # Cached: a second load does not go back to the store.
    (loaded / "config.json").write_text("changed locally")
    assert Path(sampler.fetch(url)) == loaded
    assert (loaded / "config.json").read_text() == "changed locally"
    with pytest.raises(ValueError, match="already published"):
        trainer.publish(local, url)  # versions are immutable


def test_a_publish_killed_midway_leaves_nothing_visible(tmp_path, s3_bucket):
    local = _version(tmp_path / "staging" / "v")
    url = f"{s3_bucket}/quartet/proj/reward/run-9"
    # A real process, killed with SIGKILL while it is between two uploads.
    script = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from training.storage import ArtifactStore

class Stalling(ArtifactStore):
    uploads = 0
    def _upload(self, fs, local_file, remote_path):
        super()._upload(fs, local_file, remote_path)
        self.uploads += 1
        if self.uploads == 2:
            print("two files uploaded", flush=True)
            sys.stdin.read()  # blocks until killed

Stalling(root={s3_bucket!r}, cache_dir={str(tmp_path / "c")!r}).publish({str(local)!r}, {url!r})
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "two files uploaded"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    other = ArtifactStore(root=s3_bucket, cache_dir=str(tmp_path / "cache"))
    fs_files = other._fs(url)[0].find(other._fs(url)[1])
    assert len(fs_files) == 2 and not any(f.endswith(MANIFEST) for f in fs_files)  # half a model
    assert not other.is_published(url)
    with pytest.raises(ValueError, match="not published"):
        other.fetch(url)
    assert not any((tmp_path / "cache").glob("*"))  # no cached half either
    # A retry of the same round publishes over the leftovers.
    other.publish(local, url)
    assert _files(Path(other.fetch(url))) == _files(local)


def test_a_corrupt_file_is_refused(tmp_path, s3_bucket):
    store = ArtifactStore(root=s3_bucket, cache_dir=str(tmp_path / "cache"))
    url = store.publish(_version(tmp_path / "v"), f"{s3_bucket}/x/run-1")
    fs, path = store._fs(url)
    fs.pipe_file(f"{path}/config.json", b"tampered")
    with pytest.raises(ValueError, match="does not match its manifest"):
        store.fetch(url)
    assert not any((tmp_path / "cache").glob("*"))
