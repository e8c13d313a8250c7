"""Bursts on demand: redirects re-POSTed, safe unique file names, resume, bulk on the sandbox."""

from __future__ import annotations

import hashlib
import io
import random
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from phidown_async.config import Credentials, Endpoints, Limits
from phidown_async.download.archive import verify_zip
from phidown_async.download.bursts import (
    download_bursts,
    name_candidates,
    plan_bursts,
)
from phidown_async.download.intake import Intake
from phidown_async.errors import AuthError
from phidown_async.events import EventLog, ItemFailed, RetryScheduled
from phidown_async.ledger import Ledger
from phidown_async.retry import RetryPolicy
from phidown_async.session import Session

ENDPOINTS = Endpoints(
    catalogue_url="https://catalogue.test/odata/v1",
    download_url="https://download.test/odata/v1",
    token_url="https://identity.test/token",
    s3_endpoint="https://eodata.test",
)
ACCESS_TOKEN = "access-token-1"
FAST = RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.02, jitter=0.0, max_retry_after=0.02)
LIMITS = Limits(connections=3, workers=3, chunk_size=1024, timeout=5.0)


def burst_zip(stem: str, payload: bytes) -> bytes:
    """A burst zip as CDSE cuts it: ``<stem>.SAFE/`` with a manifest whose checksums are emptied."""
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1">'
        '<dataObjectSection><dataObject ID="m1"><byteStream mimeType="application/octet-stream" '
        f'size=""><fileLocation locatorType="URL" href="./measurement/{stem.lower()}.tiff"/>'
        '<checksum checksumName="MD5"></checksum></byteStream></dataObject>'
        "</dataObjectSection></xfdu:XFDU>\n"
    ).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{stem}.SAFE/manifest.safe", manifest)
        archive.writestr(f"{stem}.SAFE/measurement/{stem.lower()}.tiff", payload)
    return buffer.getvalue()


def bad_crc(data: bytes) -> bytes:
    """The same zip with one byte of the stored payload flipped (CRC no longer matches)."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as target,
    ):
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    raw = bytearray(buffer.getvalue())
    marker = raw.find(b"PAYLOAD")
    raw[marker] ^= 0xFF
    return bytes(raw)


@dataclass
class Burst:
    data: bytes
    disposition: str | None
    script: list[str] = field(default_factory=list)  # "cut", "error_page", "bad_crc", "503"


@dataclass
class BurstService:
    """A scripted CDSE for MockTransport: token endpoint, burst POSTs, redirects, ranges."""

    bursts: dict[str, Burst] = field(default_factory=dict)
    redirect_to: str | None = None  # origin the catalogue POST redirects to
    redirect_status: int = 301
    ranges: str = "honor"  # or "ignore"
    seen: list[httpx.Request] = field(default_factory=list)

    def add(self, data: bytes, disposition: str | None, script: list[str] | None = None) -> str:
        burst_id = str(uuid.uuid4())
        self.bursts[burst_id] = Burst(data, disposition, list(script or []))
        return burst_id

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "identity.test":
            return httpx.Response(
                200,
                json={
                    "access_token": ACCESS_TOKEN,
                    "expires_in": 600,
                    "refresh_token": "r1",
                    "refresh_expires_in": 3600,
                    "token_type": "Bearer",
                },
            )
        self.seen.append(request)
        burst_id = request.url.path.split("Bursts(")[1].split(")")[0]
        on_catalogue = request.url.host == "catalogue.test"
        if on_catalogue and self.redirect_to:
            return httpx.Response(
                self.redirect_status,
                headers={"Location": f"{self.redirect_to}/odata/v1/Bursts({burst_id})/$value"},
            )
        if (
            request.url.host in ("catalogue.test", "download.test")
            and request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}"
        ):
            return httpx.Response(401, json={"code": "DAT-ZIP-604", "message": "Token not found"})
        if request.method != "POST":
            return httpx.Response(405, json={"detail": "Method Not Allowed"})
        burst = self.bursts.get(burst_id)
        if burst is None:
            return httpx.Response(404, json={"detail": "Burst not found"})
        action = burst.script.pop(0) if burst.script else "ok"
        if action == "503":
            return httpx.Response(503, headers={"Retry-After": "0"}, text="busy")
        if action == "error_page":
            return httpx.Response(200, html="<html><body>Service error</body></html>")
        body = bad_crc(burst.data) if action == "bad_crc" else burst.data
        headers = {"Content-Type": "application/zip", "ETag": '"e1"'}
        if burst.disposition is not None:
            headers["Content-Disposition"] = burst.disposition
        start = 0
        wanted = request.headers.get("Range")
        if wanted and self.ranges == "honor":
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        body = body[start:]
        headers["Content-Length"] = str(len(body))
        status = 206 if start else 200
        if action == "cut":
            return httpx.Response(status, headers=headers, stream=_Cut(body))
        return httpx.Response(status, headers=headers, content=body)

    def requests_to(self, host: str) -> list[httpx.Request]:
        return [r for r in self.seen if r.url.host == host]


class _Cut(httpx.AsyncByteStream):
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self):  # type: ignore[override]
        yield self.data[: len(self.data) // 2]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def _session(service: BurstService) -> Session:
    return Session(
        ENDPOINTS,
        Credentials("user", "secret"),
        limits=LIMITS,
        retry=FAST,
        transport=httpx.MockTransport(service),
    )


def _payload(n: int = 5000) -> bytes:
    # Incompressible, so the zip is as large as asked and a cut lands mid-body.
    return b"PAYLOAD" + random.Random(n).randbytes(n)


async def test_same_server_name_and_traversal_stay_inside_and_apart(tmp_path: Path) -> None:
    service = BurstService()
    out = tmp_path / "out"
    one = service.add(burst_zip("S1A_A", _payload(1)), "attachment; filename=same.zip")
    two = service.add(burst_zip("S1A_B", _payload(2)), "attachment; filename=same.zip")
    evil = service.add(burst_zip("S1A_C", _payload(3)), 'attachment; filename="../../x.zip"')
    bare = service.add(burst_zip("S1A_D", _payload(4)), None)
    async with _session(service) as session:
        summary = await download_bursts([one, two, evil, bare], out, session=session)

    assert [r.status for r in summary.results] == ["downloaded"] * 4
    paths = [r.path for r in summary.results]
    assert len(set(paths)) == 4
    for path, burst_id in zip(paths, [one, two, evil, bare], strict=True):
        assert path is not None and path.parent == out.absolute()
        assert path.read_bytes() == service.bursts[burst_id].data
    names = sorted(p.name for p in paths if p is not None)
    assert "same.zip" in names and "x.zip" in names and f"{bare}.zip" in names
    assert {f"same-{one}.zip", f"same-{two}.zip"} & set(names)
    assert not (tmp_path / "x.zip").exists() and not (tmp_path.parent / "x.zip").exists()
    leftovers = [p.name for p in out.iterdir() if p.name.endswith((".part", ".json"))]
    assert leftovers == []


async def test_existing_file_with_other_bytes_is_not_overwritten(tmp_path: Path) -> None:
    service = BurstService()
    out = tmp_path / "out"
    out.mkdir()
    (out / "taken.zip").write_bytes(b"someone else's file")
    disposition = "attachment; filename*=UTF-8''taken.zip"
    burst_id = service.add(burst_zip("S1A_T", _payload(7)), disposition)
    async with _session(service) as session:
        summary = await download_bursts([burst_id], out, session=session)
    assert summary.downloaded == 1
    assert (out / "taken.zip").read_bytes() == b"someone else's file"
    assert summary.results[0].path == out.absolute() / f"taken-{burst_id}.zip"


@pytest.mark.parametrize("status", [301, 302, 307])
async def test_redirect_is_re_posted_with_the_token_to_the_download_host(
    tmp_path: Path, status: int
) -> None:
    service = BurstService(redirect_to="https://download.test", redirect_status=status)
    burst_id = service.add(burst_zip("S1A_R", _payload(8)), "attachment; filename=r.zip")
    async with _session(service) as session:
        summary = await download_bursts([burst_id], tmp_path, session=session)
    assert summary.downloaded == 1
    hops = service.seen
    assert [(r.method, r.url.host) for r in hops] == [
        ("POST", "catalogue.test"),
        ("POST", "download.test"),
    ]
    assert all(r.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}" for r in hops)


async def test_token_never_reaches_an_unconfigured_redirect_host(tmp_path: Path) -> None:
    service = BurstService(redirect_to="https://elsewhere.example")
    burst_id = service.add(burst_zip("S1A_U", _payload(9)), "attachment; filename=u.zip")
    async with _session(service) as session:
        summary = await download_bursts([burst_id], tmp_path, session=session)
    foreign = service.requests_to("elsewhere.example")
    assert foreign and all("Authorization" not in r.headers for r in foreign)
    assert all(r.method == "POST" for r in foreign)
    assert summary.downloaded == 1  # the foreign host needed no token here


async def test_unconfigured_host_asking_for_auth_fails_that_burst_only(tmp_path: Path) -> None:
    class Guarded(BurstService):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.url.host == "elsewhere.example":
                self.seen.append(request)
                return httpx.Response(401, json={"detail": "Unauthorized"})
            return super().__call__(request)

    service = Guarded(redirect_to="https://elsewhere.example")
    burst_id = service.add(burst_zip("S1A_G", _payload(10)), "attachment; filename=g.zip")
    async with _session(service) as session:
        summary = await download_bursts([burst_id], tmp_path, session=session)
    assert summary.failed == 1
    assert "only sent to the configured CDSE hosts" in (summary.results[0].reason or "")
    assert all("Authorization" not in r.headers for r in service.requests_to("elsewhere.example"))


async def test_too_many_redirects_fail_the_burst(tmp_path: Path) -> None:
    class Loop(BurstService):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.url.host == "identity.test":
                return super().__call__(request)
            self.seen.append(request)
            return httpx.Response(307, headers={"Location": str(request.url)})

    service = Loop()
    burst_id = service.add(burst_zip("S1A_L", _payload(11)), None)
    async with _session(service) as session:
        summary = await download_bursts([burst_id], tmp_path, session=session)
    assert summary.failed == 1 and "redirects" in (summary.results[0].reason or "")
    assert len(service.seen) == 6


async def test_interrupted_body_resumes_with_range(tmp_path: Path) -> None:
    service = BurstService()
    data = burst_zip("S1A_P", _payload(40000))
    burst_id = service.add(data, "attachment; filename=p.zip", script=["cut"])
    async with _session(service) as session:
        summary = await download_bursts([burst_id], tmp_path, session=session)
    assert summary.downloaded == 1
    assert summary.results[0].path.read_bytes() == data  # type: ignore[union-attr]
    first, second = (r.headers.get("Range") for r in service.seen)
    assert first is None and second is not None
    # It asks for the rest only: what the broken body delivered (whole chunks) is kept.
    offset = int(second.removeprefix("bytes=").rstrip("-"))
    assert 0 < offset <= len(data) // 2
    assert service.seen[1].headers.get("If-Range") == '"e1"'


async def test_server_ignoring_range_restarts_from_zero(tmp_path: Path) -> None:
    service = BurstService(ranges="ignore")
    data = burst_zip("S1A_I", _payload(40000))
    burst_id = service.add(data, "attachment; filename=i.zip", script=["cut"])
    async with _session(service) as session:
        summary = await download_bursts([burst_id], tmp_path, session=session)
    assert summary.results[0].path.read_bytes() == data  # type: ignore[union-attr]
    assert summary.results[0].size == len(data)


async def test_corrupt_zip_and_error_page_are_retried_never_kept(tmp_path: Path) -> None:
    service = BurstService()
    data = burst_zip("S1A_K", _payload(3000))
    burst_id = service.add(
        data, "attachment; filename=k.zip", script=["bad_crc", "error_page", "503"]
    )
    log = EventLog()
    async with _session(service) as session:
        summary = await download_bursts([burst_id], tmp_path, session=session, sink=log)
    assert summary.downloaded == 1
    assert (tmp_path / "k.zip").read_bytes() == data
    reasons = [e.reason for e in log.of(RetryScheduled)]
    assert any("CRC" in r or "corrupt" in r for r in reasons)
    assert any("error page" in r for r in reasons)
    assert len(service.seen) == 4


async def test_always_corrupt_burst_fails_without_a_file(tmp_path: Path) -> None:
    service = BurstService()
    data = burst_zip("S1A_Z", _payload(3000))
    burst_id = service.add(data, "attachment; filename=z.zip", script=["bad_crc"] * 10)
    async with _session(service) as session:
        summary = await download_bursts([burst_id], tmp_path, session=session)
    assert summary.failed == 1
    assert "corrupt" in (summary.results[0].reason or "")
    assert not (tmp_path / "z.zip").exists()


async def test_invalid_and_duplicate_items(tmp_path: Path) -> None:
    service = BurstService()
    good = service.add(burst_zip("S1A_V", _payload(12)), "attachment; filename=v.zip")
    log = EventLog()
    items = [
        {"Id": float("nan"), "Name": "nameless"},
        "not-a-uuid",
        {"Id": good, "Name": "V"},
        good,
    ]
    async with _session(service) as session:
        summary = await download_bursts(items, tmp_path, session=session, sink=log)
    assert [r.status for r in summary.results] == ["failed", "failed", "downloaded"]
    assert summary.results[0].reason == "No burst ID found"
    assert "not a valid UUID" in (summary.results[1].reason or "")
    assert len(service.seen) == 1
    assert len(log.of(ItemFailed)) == 2


async def test_unknown_burst_fails_and_bad_token_ends_the_run(tmp_path: Path) -> None:
    service = BurstService()
    async with _session(service) as session:
        summary = await download_bursts([str(uuid.uuid4())], tmp_path, session=session)
    assert summary.failed == 1 and "404" in (summary.results[0].reason or "")

    class Refusing(BurstService):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.url.host == "identity.test":
                return super().__call__(request)
            return httpx.Response(
                401, json={"code": "DAT-ZIP-609", "message": "Token audience not allowed"}
            )

    refusing = Refusing()
    burst_id = refusing.add(burst_zip("S1A_X", _payload(13)), None)
    async with _session(refusing) as session:
        with pytest.raises(AuthError, match="DAT-ZIP-609"):
            await download_bursts([burst_id], tmp_path / "b", session=session)


def test_name_candidates_are_safe_and_distinct() -> None:
    burst_id = str(uuid.uuid4())
    names = name_candidates("../../etc/passwd", burst_id)
    assert names[0] == "passwd.zip"
    assert names[1] == f"passwd-{burst_id}.zip"
    assert len(set(names)) == len(names)
    assert all("/" not in n and not n.startswith(".") for n in names)
    long = name_candidates("a" * 400 + ".zip", burst_id)
    assert all(len(n.encode()) <= 255 for n in long) and burst_id in long[1]
    assert name_candidates(None, burst_id)[0] == f"{burst_id}.zip"


def test_plan_deduplicates_by_id(tmp_path: Path) -> None:
    burst_id = str(uuid.uuid4())
    records = [{"Id": burst_id}, {"Id": burst_id.upper()}, {"Id": burst_id}]
    jobs, rejected = plan_bursts(
        Intake(records=list(enumerate(records))),
        tmp_path,
        catalogue_url=ENDPOINTS.catalogue_url,
    )
    assert len(jobs) == 1 and rejected == []
    assert jobs[0][1].url == f"{ENDPOINTS.catalogue_url}/Bursts({burst_id})/$value"
    assert jobs[0][1].method == "POST"


# -- against the sandbox ------------------------------------------------------------------


async def test_forty_bursts_concurrently_within_the_quota(sandbox_factory, tmp_path: Path) -> None:
    sandbox = sandbox_factory(products=60, burst_delay=0.2, max_connections=4, burst_size=8192)
    bursts = sandbox.archive.bursts[:40]
    assert len(bursts) == 40
    out = tmp_path / "bursts"
    limits = Limits(connections=4, workers=8, chunk_size=4096, timeout=10.0)
    summary = await download_bursts(
        bursts,
        out,
        endpoints=sandbox.endpoints,
        credentials=Credentials(sandbox.config.username, sandbox.config.password),
        limits=limits,
        retry=FAST,
    )
    assert summary.downloaded == 40, [r.reason for r in summary.failures]
    counters = sandbox.counters
    assert 1 < counters.peak_downloads() <= 4
    assert counters.requests("burst", 429) == 0
    assert counters.requests("burst_redirect") == 40
    for burst, result in zip(bursts, summary.results, strict=True):
        name, source = sandbox.archive.burst_zip(burst["Id"])
        assert result.path is not None and result.path.name == name
        assert (
            hashlib.md5(result.path.read_bytes()).hexdigest()
            == hashlib.md5(Path(source).read_bytes()).hexdigest()
        )
        verify_zip(result.path)
    with Ledger(out / ".phidown_ledger.sqlite") as ledger:
        assert ledger.summary().done == 40

    served = counters.requests("burst", 200)
    again = await download_bursts(
        bursts,
        out,
        endpoints=sandbox.endpoints,
        credentials=Credentials(sandbox.config.username, sandbox.config.password),
        limits=limits,
        retry=FAST,
    )
    assert again.skipped == 40
    assert counters.requests("burst", 200) == served


async def test_quota_below_the_budget_is_absorbed(sandbox_factory, tmp_path: Path) -> None:
    sandbox = sandbox_factory(products=60, burst_delay=0.1, max_connections=2, burst_size=4096)
    bursts = sandbox.archive.bursts[:12]
    limits = Limits(connections=4, workers=4, chunk_size=4096, timeout=10.0)
    log = EventLog()
    summary = await download_bursts(
        bursts,
        tmp_path,
        endpoints=sandbox.endpoints,
        credentials=Credentials(sandbox.config.username, sandbox.config.password),
        limits=limits,
        retry=FAST,
        sink=log,
    )
    assert summary.downloaded == 12, [r.reason for r in summary.failures]
    assert sandbox.counters.requests("burst", 429) > 0  # the quota really was hit
    assert sandbox.counters.peak_downloads() <= 2
    assert any("DAT-ZIP-100" in e.reason for e in log.of(RetryScheduled))


async def test_revoked_token_is_renewed_and_the_burst_resumes(
    sandbox_factory, tmp_path: Path
) -> None:
    from phidown_async.sandbox import Faults

    sandbox = sandbox_factory(products=60, burst_size=64 * 1024)
    sandbox.set_faults(Faults(schedule={"revoke": (1,)}))
    bursts = sandbox.archive.bursts[:5]
    summary = await download_bursts(
        bursts,
        tmp_path,
        endpoints=sandbox.endpoints,
        credentials=Credentials(sandbox.config.username, sandbox.config.password),
        # One at a time: each revocation must hit a token the run still uses, not one that
        # another burst's revocation already replaced.
        limits=Limits(connections=1, workers=1, chunk_size=4096, timeout=10.0),
        retry=FAST,
    )
    assert summary.downloaded == 5, [r.reason for r in summary.failures]
    snapshot = sandbox.counters.snapshot()
    assert snapshot["faults"].get("revoke", 0) == 5
    assert snapshot["requests"]["burst"].get(401, 0) >= 1
    assert sum(snapshot["token_grants"].values()) >= 2  # renewed after the revocation
    for burst, result in zip(bursts, summary.results, strict=True):
        _, source = sandbox.archive.burst_zip(burst["Id"])
        assert result.path is not None and result.path.read_bytes() == Path(source).read_bytes()
