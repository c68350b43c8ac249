"""An S3-compatible server on localhost for artifact-store tests: moto in server mode, real HTTP,
so s3fs runs exactly as it would against S3 or MinIO."""

import uuid

import pytest

BUCKET = "quartet-test"


@pytest.fixture(scope="session")
def s3_server():
    """Endpoint URL of a moto server started for this test session (skips without moto)."""
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is a test dependency")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, monkeypatch):
    """A fresh, empty bucket on the local server; AWS_* variables point s3fs and boto3 at it.
    Returns the bucket's s3:// URL."""
    boto3 = pytest.importorskip("boto3", reason="installed with moto[server]")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_server,
    }.items():
        monkeypatch.setenv(name, value)
    name = f"{BUCKET}-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=name)
    return f"s3://{name}"
