"""Product downloads over HTTP: redirect, bytes, checksums, Range, auth errors, quota."""

from __future__ import annotations

import contextlib
import hashlib
import io
import time
import zipfile
from urllib.parse import urlsplit

import anyio
import blake3
import httpx
import pytest


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def wait_until(predicate, seconds: float = 5.0) -> bool:
    """Poll ``predicate`` for at most ``seconds`` (bounded, for server-side bookkeeping)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_every_product_zip_matches_its_catalogue_checksums(
    sandbox, client, auth, value_url, checksum
):
    listing = client.get(sandbox.endpoints.products_url, params={"$top": "1000"}).json()
    assert len(listing["value"]) == len(sandbox.archive.products)
    for entity in listing["value"]:
        reply = client.get(value_url(entity["Id"]), headers=auth)

        assert reply.status_code == 200
        body = reply.content
        assert len(body) == entity["ContentLength"] == int(reply.headers["content-length"])
        assert hashlib.md5(body).hexdigest() == checksum(entity, "MD5")
        assert blake3.blake3(body).hexdigest() == checksum(entity, "BLAKE3")
        assert (
            reply.headers["content-disposition"] == f'attachment; filename="{entity["Name"]}.zip"'
        )
        with zipfile.ZipFile(io.BytesIO(body)) as archive_zip:
            assert archive_zip.testzip() is None
            assert all(n.startswith(f"{entity['Name']}/") for n in archive_zip.namelist())
    assert sandbox.counters.requests("product", 200) == len(listing["value"])


def test_catalogue_value_is_a_301_to_the_download_origin(sandbox, client, value_url, product):
    url = value_url(product["Id"], origin="catalogue")

    reply = client.get(url + "?token=abc")
    head = client.head(url)

    assert reply.status_code == 301
    assert reply.headers["location"] == value_url(product["Id"]) + "?token=abc"
    assert origin(reply.headers["location"]) != origin(url)
    assert head.status_code == 301
    assert sandbox.counters.requests("product_redirect", 301) == 2


@pytest.mark.reads_only
def test_following_the_redirect_drops_the_bearer_like_cdse(client, auth, value_url, product):
    reply = client.get(
        value_url(product["Id"], origin="catalogue"), headers=auth, follow_redirects=True
    )

    assert reply.status_code == 401
    assert reply.json()["code"] == "DAT-ZIP-604"
    assert reply.json()["message"] == "Token not found"


@pytest.mark.reads_only
def test_token_in_the_query_survives_the_redirect(client, token, value_url, product, checksum):
    reply = client.get(
        value_url(product["Id"], origin="catalogue"), params={"token": token}, follow_redirects=True
    )

    assert reply.status_code == 200
    assert hashlib.md5(reply.content).hexdigest() == checksum(product, "MD5")


@pytest.mark.reads_only
def test_range_resume_gives_the_same_bytes(client, auth, value_url, product):
    url = value_url(product["Id"])
    full = client.get(url, headers=auth)
    half = len(full.content) // 2

    head = client.get(url, headers={**auth, "Range": f"bytes=0-{half - 1}"})
    tail = client.get(
        url, headers={**auth, "Range": f"bytes={half}-", "If-Range": full.headers["etag"]}
    )

    assert (head.status_code, tail.status_code) == (206, 206)
    assert head.headers["content-range"] == f"bytes 0-{half - 1}/{len(full.content)}"
    assert tail.headers["content-range"] == (
        f"bytes {half}-{len(full.content) - 1}/{len(full.content)}"
    )
    assert head.content + tail.content == full.content
    assert full.headers["accept-ranges"] == "bytes"


@pytest.mark.reads_only
def test_suffix_range_gives_the_last_bytes(client, auth, value_url, product):
    url = value_url(product["Id"])
    full = client.get(url, headers=auth).content

    reply = client.get(url, headers={**auth, "Range": "bytes=-100"})

    assert reply.status_code == 206
    assert reply.content == full[-100:]


@pytest.mark.reads_only
def test_stale_if_range_sends_the_whole_file(client, auth, value_url, product):
    reply = client.get(
        value_url(product["Id"]), headers={**auth, "Range": "bytes=100-", "If-Range": '"0123"'}
    )

    assert reply.status_code == 200
    assert len(reply.content) == product["ContentLength"]


@pytest.mark.reads_only
def test_range_past_the_end_is_416(client, auth, value_url, product):
    size = product["ContentLength"]

    reply = client.get(value_url(product["Id"]), headers={**auth, "Range": f"bytes={size}-"})

    assert reply.status_code == 416
    assert reply.headers["content-range"] == f"bytes */{size}"


def test_range_mode_ignore_sends_200_with_the_whole_file(sandbox, client, auth, value_url, product):
    sandbox.update(range_mode="ignore")

    reply = client.get(value_url(product["Id"]), headers={**auth, "Range": "bytes=100-"})

    assert reply.status_code == 200
    assert len(reply.content) == product["ContentLength"]
    assert reply.headers["accept-ranges"] == "none"


def test_range_mode_reject_refuses_partial_ranges_only(sandbox, client, auth, value_url, product):
    sandbox.update(range_mode="reject")
    url = value_url(product["Id"])

    partial = client.get(url, headers={**auth, "Range": "bytes=100-"})
    whole = client.get(url, headers={**auth, "Range": "bytes=0-"})

    assert partial.status_code == 416
    assert whole.status_code == 200
    assert len(whole.content) == product["ContentLength"]


def test_fifth_concurrent_download_gets_429_while_four_are_open(
    sandbox, client, auth, value_url, product
):
    user = sandbox.config.username
    sandbox.update(bandwidth=0.01)  # 10 kB/s: the four streams stay open while we probe
    url = value_url(product["Id"])

    with contextlib.ExitStack() as stack:
        streams = [stack.enter_context(client.stream("GET", url, headers=auth)) for _ in range(4)]
        fifth = client.get(url, headers=auth)

        assert [s.status_code for s in streams] == [200] * 4
        assert fifth.status_code == 429
        assert fifth.json()["code"] == "DAT-ZIP-100"
        assert fifth.json()["message"] == "Max session number exceeded"
        assert sandbox.counters.active_downloads(user) == 4

    # Closing the streams disconnects them; the server gives the slots back.
    assert wait_until(lambda: sandbox.counters.active_downloads(user) == 0)
    sandbox.update(bandwidth=None)
    assert client.get(url, headers=auth).status_code == 200
    assert sandbox.counters.peak_downloads(user) == 4
    assert sandbox.counters.requests("product", 429) == 1


def test_quota_follows_runtime_updates(sandbox, client, auth, value_url, product):
    sandbox.update(quota=1, bandwidth=0.01)
    url = value_url(product["Id"])

    with client.stream("GET", url, headers=auth) as first:
        second = client.get(url, headers=auth)

    assert first.status_code == 200
    assert second.status_code == 429


@pytest.mark.reads_only
def test_missing_token_is_dat_zip_604(client, value_url, product):
    reply = client.get(value_url(product["Id"]))

    assert reply.status_code == 401
    body = reply.json()
    assert list(body) == ["trace-id", "code", "message"]
    assert (body["code"], body["message"]) == ("DAT-ZIP-604", "Token not found")


@pytest.mark.reads_only
def test_quoted_id_is_a_malformed_path(client, auth, value_url, product):
    reply = client.get(value_url(f"'{product['Id']}'"), headers=auth)

    assert reply.status_code == 400
    assert reply.json()["code"] == "DAT-ZIP-104"


@pytest.mark.reads_only
def test_unknown_product_is_404(client, auth, value_url):
    reply = client.get(value_url("00000000-0000-0000-0000-000000000000"), headers=auth)

    assert reply.status_code == 404


@pytest.mark.reads_only
def test_head_is_not_allowed_on_the_download_host(client, auth, value_url, product):
    assert client.head(value_url(product["Id"]), headers=auth).status_code == 405


def test_bandwidth_cap_keeps_the_bytes_intact(sandbox, client, auth, value_url, product, checksum):
    sandbox.update(bandwidth=5.0)

    reply = client.get(value_url(product["Id"]), headers=auth)

    assert hashlib.md5(reply.content).hexdigest() == checksum(product, "MD5")


def test_counters_report_bytes_and_requests(sandbox, client, auth, value_url, product):
    url = value_url(product["Id"])
    client.get(url, headers=auth)
    client.get(url, headers={**auth, "Range": "bytes=-1000"})
    client.get(url)

    assert sandbox.counters.bytes_served(product["Id"]) == product["ContentLength"] + 1000
    snapshot = sandbox.counters.snapshot()
    assert snapshot["requests"]["product"] == {200: 1, 206: 1, 401: 1}
    assert snapshot["bytes_served"] == {product["Id"]: product["ContentLength"] + 1000}
    sandbox.counters.reset()
    assert sandbox.counters.snapshot()["bytes_served"] == {}


def test_downloads_are_counted_per_user_concurrently(sandbox, auth, value_url):
    ids = [p["Id"] for p in sandbox.archive.products[:4]]
    sandbox.update(bandwidth=0.2)  # slow enough that the four overlap
    sizes: dict[str, int] = {}

    async def fetch(http: httpx.AsyncClient, item: str) -> None:
        reply = await http.get(value_url(item), headers=auth)
        sizes[item] = len(reply.content)

    async def main() -> None:
        async with httpx.AsyncClient(timeout=30) as http, anyio.create_task_group() as tg:
            for item in ids:
                tg.start_soon(fetch, http, item)

    anyio.run(main)

    assert sandbox.counters.peak_downloads(sandbox.config.username) == 4
    for item in ids:
        assert sizes[item] == sandbox.counters.bytes_served(item) > 0
