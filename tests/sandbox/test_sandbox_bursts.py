"""On-demand bursts over HTTP: redirect and re-POST, zip, Content-Disposition, delay, quota."""

from __future__ import annotations

import io
import re
import threading
import time
import zipfile

import httpx
import pytest

NAME = re.compile(r"S1[AB]_SLC_\d{8}T\d{6}_(\d+)_(IW[123])_(VV|VH|HH|HV)_\d+\.zip")


@pytest.fixture
def burst(sandbox):
    return sandbox.archive.bursts[0]


def filename(reply: httpx.Response) -> str:
    disposition = reply.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    return disposition.split("filename=")[1]


def test_post_redirects_then_the_re_post_returns_the_zip(sandbox, client, auth, value_url, burst):
    first = client.post(value_url(burst["Id"], "Bursts", "catalogue"), headers=auth)

    assert first.status_code == 307
    assert first.headers["location"] == value_url(burst["Id"], "Bursts")
    second = client.post(first.headers["location"], headers=auth)
    assert second.status_code == 200
    name = filename(second)
    match = NAME.fullmatch(name)  # unquoted, as CDSE sends it
    assert match is not None, name
    assert (int(match[1]), match[2], match[3]) == (
        burst["BurstId"],
        burst["SwathIdentifier"],
        burst["PolarisationChannels"],
    )
    assert int(second.headers["content-length"]) == len(second.content)
    with zipfile.ZipFile(io.BytesIO(second.content)) as extract:
        assert extract.testzip() is None
        assert any(n.endswith("manifest.safe") for n in extract.namelist())
    assert sandbox.counters.requests("burst_redirect", 307) == 1
    assert sandbox.counters.requests("burst", 200) == 1


@pytest.mark.reads_only
def test_following_the_307_with_httpx_loses_the_token(client, auth, value_url, burst):
    reply = client.post(
        value_url(burst["Id"], "Bursts", "catalogue"), headers=auth, follow_redirects=True
    )

    assert reply.status_code == 401
    assert reply.json()["code"] == "DAT-ZIP-604"


def test_without_redirect_the_catalogue_serves_the_burst(sandbox, client, auth, value_url, burst):
    sandbox.update(burst_redirect=False)

    reply = client.post(value_url(burst["Id"], "Bursts", "catalogue"), headers=auth)

    assert reply.status_code == 200
    assert NAME.fullmatch(filename(reply))


def test_processing_delay_holds_a_quota_slot(sandbox, client, auth, value_url, burst, product):
    user = sandbox.config.username
    sandbox.update(burst_delay=1.0, quota=1)
    replies: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: replies.append(client.post(value_url(burst["Id"], "Bursts"), headers=auth))
    )
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while sandbox.counters.active_downloads(user) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not replies  # still "processing"
        refused = client.get(value_url(product["Id"]), headers=auth)
    finally:
        worker.join(timeout=10)

    assert refused.status_code == 429
    assert refused.json()["code"] == "DAT-ZIP-100"
    assert [r.status_code for r in replies] == [200]
    assert NAME.fullmatch(filename(replies[0]))


@pytest.mark.reads_only
def test_burst_range_is_honoured(client, auth, value_url, burst):
    url = value_url(burst["Id"], "Bursts")
    full = client.post(url, headers=auth).content

    tail = client.post(url, headers={**auth, "Range": "bytes=10-"})

    assert tail.status_code == 206
    assert tail.content == full[10:]


@pytest.mark.reads_only
def test_unknown_burst_is_404(client, auth, value_url):
    reply = client.post(value_url("00000000-0000-0000-0000-000000000000", "Bursts"), headers=auth)

    assert reply.status_code == 404


@pytest.mark.reads_only
def test_burst_without_token_is_401(client, value_url, burst):
    reply = client.post(value_url(burst["Id"], "Bursts"))

    assert reply.status_code == 401
    assert reply.json()["code"] == "DAT-ZIP-604"
