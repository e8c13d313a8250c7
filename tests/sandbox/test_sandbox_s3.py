"""The S3 endpoint (moto) holds the first products as SAFE folders, byte-exact."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from phidown_async.sandbox import Sandbox, SandboxConfig

UPLOADED = 3
S3_CONFIG = SandboxConfig(products=6, seed=5, product_size=48 * 1024, s3=True, s3_products=UPLOADED)


@pytest.fixture(scope="module")
def s3_sandbox() -> Iterator[Sandbox]:
    with Sandbox(S3_CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def s3(s3_sandbox: Sandbox) -> Any:
    env = s3_sandbox.env
    return boto3.client(
        "s3",
        endpoint_url=env["PHIDOWN_S3_ENDPOINT"],
        region_name="default",
        aws_access_key_id=env["CDSE_S3_ACCESS_KEY"],
        aws_secret_access_key=env["CDSE_S3_SECRET_KEY"],
        config=Config(s3={"addressing_style": "path"}),
    )


def prefix_of(product: dict[str, Any]) -> str:
    return product["S3Path"].removeprefix("/eodata/") + "/"


def list_keys(s3: Any, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="eodata", Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def manifest_entries(manifest: bytes) -> list[tuple[str, int, str, str]]:
    """(href without ./, size, checksum algorithm, checksum) of every listed data file."""
    entries = []
    for stream in ET.fromstring(manifest).iter():
        if not stream.tag.endswith("byteStream"):
            continue
        location = next(e for e in stream if e.tag.endswith("fileLocation"))
        checksum = next(e for e in stream if e.tag.endswith("checksum"))
        entries.append(
            (
                location.get("href", "").removeprefix("./"),
                int(stream.get("size")),
                checksum.get("checksumName"),
                (checksum.text or "").strip(),
            )
        )
    return entries


@pytest.mark.parametrize("index", range(UPLOADED))
def test_objects_of_a_product_match_its_manifest(s3_sandbox, s3, index):
    product = s3_sandbox.archive.products[index]
    prefix = prefix_of(product)
    keys = list_keys(s3, prefix)
    expected = {relative for relative, _ in s3_sandbox.archive.product_files(product["Id"])}
    assert {key.removeprefix(prefix) for key in keys} == expected

    manifest_name = next(name for name in expected if name in ("manifest.safe", "xfdumanifest.xml"))
    manifest = s3.get_object(Bucket="eodata", Key=prefix + manifest_name)["Body"].read()
    entries = manifest_entries(manifest)
    assert entries, "the manifest lists data files"
    for href, size, algorithm, value in entries:
        body = s3.get_object(Bucket="eodata", Key=prefix + href)["Body"].read()
        assert len(body) == size, href
        if algorithm == "MD5":
            assert hashlib.md5(body).hexdigest() == value, href
        else:
            assert algorithm == "SHA3-256"
            assert hashlib.sha3_256(body).hexdigest().upper() == value, href


def test_ranged_get_returns_the_slice(s3_sandbox, s3):
    product = s3_sandbox.archive.products[0]
    relative, content = max(
        s3_sandbox.archive.product_files(product["Id"]),
        key=lambda item: len(item[1]) if isinstance(item[1], bytes) else 0,
    )
    key = prefix_of(product) + relative

    reply = s3.get_object(Bucket="eodata", Key=key, Range="bytes=100-199")

    assert reply["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert reply["Body"].read() == content[100:200]


def test_products_past_the_upload_count_are_absent(s3_sandbox, s3):
    product = s3_sandbox.archive.products[UPLOADED]

    assert list_keys(s3, prefix_of(product)) == []


def test_s3_endpoint_is_published(s3_sandbox):
    assert s3_sandbox.endpoints.s3_endpoint == s3_sandbox.s3_endpoint
    assert s3_sandbox.s3_endpoint.startswith("http://127.0.0.1:")
    assert s3_sandbox.s3_endpoint != s3_sandbox.endpoints.catalogue_url.removesuffix("/odata/v1")
