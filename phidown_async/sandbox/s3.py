"""The sandbox's S3 endpoint: moto's server mode with the ``eodata`` bucket.

Each uploaded product appears as CDSE lays it out: bucket ``eodata``, one object per SAFE
file at ``<S3Path minus /eodata/>/<path inside the SAFE>``. moto keeps objects in memory
and has no lazy hook, so only ``SandboxConfig.s3_products`` products (the first N of the
archive; None for all) are uploaded at startup, which keeps startup fast. moto accepts any
access keys; the sandbox publishes its own pair so clients exercise their key handling.
boto3 is used only here (it comes with moto).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..extras import needs

BUCKET = "eodata"
REGION = "us-east-1"


def object_prefix(s3_path: str) -> str:
    """Object key (or key prefix of a SAFE folder) of a catalogue ``S3Path``."""
    key = s3_path.lstrip("/")
    if key.startswith(f"{BUCKET}/"):
        key = key[len(BUCKET) + 1 :]
    return key.rstrip("/")


class S3Server:
    """A moto S3 server on loopback holding some of the archive's products.

    Args:
        host: interface to bind (loopback).
        access_key, secret_key: the keys the sandbox publishes (and uses to upload).
    """

    def __init__(self, host: str, access_key: str, secret_key: str) -> None:
        self.host = host
        self.access_key = access_key
        self.secret_key = secret_key
        self._server: Any = None
        self.endpoint = ""

    def start(self) -> str:
        """Start the server; returns its endpoint URL ``http://host:port``."""
        # Imported here: moto is an optional dependency and slow to import.
        with needs("sandbox-s3", "The sandbox's S3 server (--s3)"):
            from moto.server import ThreadedMotoServer

        # werkzeug logs every request at INFO; the sandbox's output stays one JSON line.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address=self.host, port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    def client(self) -> Any:
        """A boto3 S3 client for this server (path-style, as CDSE needs)."""
        with needs("sandbox-s3", "The sandbox's S3 client"):
            import boto3
            from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def upload(self, archive: Any, products: Iterable[dict[str, Any]], workers: int = 8) -> int:
        """Create the bucket and put every file of ``products``; returns the object count."""
        client = self.client()
        # moto's state is per process: another sandbox may have made the bucket already.
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=BUCKET)
        jobs = [
            (object_prefix(p["S3Path"]), relative, data)
            for p in products
            for relative, data in archive.product_files(p["Id"])
        ]

        def put(job: tuple[str, str, Path | bytes]) -> None:
            prefix, relative, data = job
            key = f"{prefix}/{relative.lstrip('/')}" if relative else prefix
            if isinstance(data, bytes | bytearray):
                client.put_object(Bucket=BUCKET, Key=key, Body=bytes(data))
            else:
                client.upload_file(str(data), BUCKET, key)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(put, jobs))
        return len(jobs)

    def stop(self) -> None:
        """Stop the server (its objects go with it unless another sandbox shares moto)."""
        if self._server is not None:
            self._server.stop()
            self._server = None
