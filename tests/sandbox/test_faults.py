"""Injected faults, each as a client sees it."""

from __future__ import annotations

import hashlib
import io
import zipfile

import httpx
import pytest

from phidown_async.sandbox import Faults, Sandbox


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def read_until_error(
    client: httpx.Client, url: str, headers: dict[str, str]
) -> tuple[int, int, Exception | None]:
    """(declared length, bytes received, error raised while reading the body)."""
    received = 0
    with client.stream("GET", url, headers=headers) as reply:
        declared = int(reply.headers["content-length"])
        try:
            for chunk in reply.iter_bytes():
                received += len(chunk)
        except httpx.HTTPError as exc:
            return declared, received, exc
    return declared, received, None


def test_reset_aborts_the_body_then_the_next_request_is_clean(
    sandbox, client, auth, value_url, product, checksum
):
    sandbox.set_faults(Faults(schedule={"reset": (1,)}))
    url = value_url(product["Id"])

    with pytest.raises(httpx.RemoteProtocolError):
        client.get(url, headers=auth)
    again = client.get(url, headers=auth)

    assert md5(again.content) == checksum(product, "MD5")
    assert sandbox.counters.snapshot()["faults"] == {"reset": 1}


def test_short_body_ends_before_content_length(sandbox, client, auth, value_url, product):
    sandbox.set_faults(Faults(schedule={"short": (1,)}))

    declared, received, error = read_until_error(client, value_url(product["Id"]), auth)

    assert declared == product["ContentLength"]
    assert 0 < received < declared
    assert isinstance(error, httpx.RemoteProtocolError)


def test_stall_outlasts_a_short_read_timeout(sandbox, auth, value_url, product):
    sandbox.set_faults(Faults(schedule={"stall": (1,)}, stall_seconds=5.0))

    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.3)) as impatient:
        declared, received, error = read_until_error(impatient, value_url(product["Id"]), auth)

    assert isinstance(error, httpx.ReadTimeout)
    assert 0 < received < declared


def test_a_stalled_body_resumes_intact(sandbox, client, auth, value_url, product, checksum):
    sandbox.set_faults(Faults(schedule={"stall": (1,)}, stall_seconds=0.2))

    reply = client.get(value_url(product["Id"]), headers=auth)

    assert md5(reply.content) == checksum(product, "MD5")


def test_corrupt_body_has_the_right_length_and_the_wrong_hash(
    sandbox, client, auth, value_url, product, checksum
):
    sandbox.set_faults(Faults(schedule={"corrupt": (1,)}))
    url = value_url(product["Id"])

    bad = client.get(url, headers=auth)
    good = client.get(url, headers=auth)

    assert bad.status_code == 200
    assert len(bad.content) == product["ContentLength"]
    assert md5(bad.content) != checksum(product, "MD5")
    assert md5(good.content) == checksum(product, "MD5")


def test_revoke_cuts_the_stream_and_kills_the_token(
    sandbox, client, auth, login, value_url, product
):
    sandbox.set_faults(Faults(schedule={"revoke": (1,)}))
    url = value_url(product["Id"])

    with pytest.raises(httpx.RemoteProtocolError):
        client.get(url, headers=auth)
    after = client.get(url, headers=auth)
    fresh = login().json()["access_token"]
    renewed = client.get(url, headers={"Authorization": f"Bearer {fresh}"})

    assert after.status_code == 401
    assert after.json()["code"] == "DAT-ZIP-109"
    assert renewed.status_code == 200


def test_error_page_is_a_200_that_is_not_a_zip(sandbox, client, auth, value_url, product):
    sandbox.set_faults(Faults(schedule={"error_page": (1,)}))

    reply = client.get(value_url(product["Id"]), headers=auth)

    assert reply.status_code == 200
    assert not zipfile.is_zipfile(io.BytesIO(reply.content))
    assert reply.json() == {"detail": "Expired signature!"}
    assert len(reply.content) < product["ContentLength"]


@pytest.mark.parametrize(
    ("kind", "retry_after", "header"),
    [
        ("429", 1.0, "1"),
        ("503", 2.5, "3"),
        ("500", 1.0, None),
    ],
)
def test_status_faults_and_retry_after(
    sandbox, client, auth, value_url, product, kind, retry_after, header
):
    sandbox.set_faults(Faults(schedule={kind: (1,)}, retry_after=retry_after))
    url = value_url(product["Id"])

    reply = client.get(url, headers=auth)

    assert reply.status_code == int(kind)
    assert reply.headers.get("retry-after") == header
    if kind == "429":
        assert reply.json()["code"] == "DAT-ZIP-100"
    assert client.get(url, headers=auth).status_code == 200
    assert sandbox.counters.active_downloads() == 0  # the refused request gave its slot back


def test_schedule_counts_requests_per_item_from_when_faults_are_set(
    sandbox, client, auth, value_url
):
    first, second = (p["Id"] for p in sandbox.archive.products[:2])
    client.get(value_url(first), headers=auth)  # before the faults: not counted
    sandbox.set_faults(Faults(schedule={"500": (2,)}))

    statuses = [
        client.get(value_url(item), headers=auth).status_code
        for item in (first, second, first, second, first)
    ]

    assert statuses == [200, 200, 500, 500, 200]


def test_burst_downloads_get_faults_too(sandbox, client, auth, value_url):
    burst = sandbox.archive.bursts[0]
    url = value_url(burst["Id"], "Bursts")
    clean = client.post(url, headers=auth).content
    sandbox.set_faults(Faults(schedule={"corrupt": (1,)}))

    bad = client.post(url, headers=auth).content

    assert len(bad) == len(clean)
    assert bad != clean


def test_rate_one_hits_every_request(sandbox, client, auth, value_url):
    sandbox.set_faults(Faults(rates={"503": 1.0}))

    statuses = {
        client.get(value_url(p["Id"]), headers=auth).status_code
        for p in sandbox.archive.products[:5]
    }

    assert statuses == {503}


def test_fault_draws_repeat_with_the_seed(config, value_url):
    def statuses() -> list[int]:
        with Sandbox(config) as running, httpx.Client(timeout=10) as http:
            running.set_faults(Faults(rates={"503": 0.5}))
            grant = http.post(
                running.token_url,
                data={
                    "grant_type": "password",
                    "username": config.username,
                    "password": config.password,
                    "client_id": "cdse-public",
                },
            ).json()
            headers = {"Authorization": f"Bearer {grant['access_token']}"}
            item = running.archive.products[0]["Id"]
            url = f"{running.endpoints.download_url}/Products({item})/$value"
            return [http.get(url, headers=headers).status_code for _ in range(12)]

    first, second = statuses(), statuses()

    assert first == second
    assert set(first) == {200, 503}


def test_catalogue_faults_hit_searches_only(sandbox, client, auth, value_url, product):
    sandbox.set_faults(Faults(catalogue_rates={"503": 1.0}, retry_after=2.0))

    search = client.get(sandbox.endpoints.products_url, params={"$top": "1"})
    download = client.get(value_url(product["Id"]), headers=auth)

    assert search.status_code == 503
    assert search.headers["retry-after"] == "2"
    assert download.status_code == 200
    assert sandbox.counters.requests("search", 503) == 1
    sandbox.set_faults(Faults())
    assert client.get(sandbox.endpoints.products_url, params={"$top": "1"}).status_code == 200


def test_catalogue_429_carries_retry_after(sandbox, client):
    sandbox.set_faults(Faults(catalogue_rates={"429": 1.0}))

    reply = client.get(sandbox.endpoints.products_url, params={"$top": "1"})

    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "1"
