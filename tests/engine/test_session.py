"""Session: catalogue GETs with retries and classified errors, streamed downloads."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import httpx
import pytest
from engine_fakes import CREDENTIALS, ENDPOINTS, FakeNet

from phidown_async.config import Limits
from phidown_async.errors import AuthError, NotFoundError, ServiceError
from phidown_async.events import EventLog, QuotaChanged, RetryScheduled
from phidown_async.retry import RetryableStatusError, RetryPolicy
from phidown_async.session import Session, error_detail

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "cdse"
PAGE_1 = json.loads((FIXTURES / "s1-catalogue-odata_page_1.json").read_text())
QUICK = RetryPolicy(attempts=3, initial_delay=0.0, jitter=0.0)
PRODUCTS = ENDPOINTS.products_url
PRODUCT = "https://download.test/odata/v1/Products(abc)/$value"


def session(net: FakeNet, *, credentials=CREDENTIALS, **kw) -> Session:
    kw.setdefault("retry", QUICK)
    return Session(ENDPOINTS, credentials, transport=net.transport(), **kw)


def answers(*responses: httpx.Response):
    """A host that gives ``responses`` in turn, then keeps giving the last one."""
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handle


async def test_get_json_returns_the_page_without_a_token(net):
    net.route("catalogue.test", answers(httpx.Response(200, json=PAGE_1)))
    async with session(net) as s:
        page = await s.get_json(PRODUCTS, {"$top": "10", "$count": "true"})
    assert page["@odata.count"] == 47
    assert len(page["value"]) == 10
    [seen] = net.at("catalogue.test")
    assert seen.authorization is None
    assert net.at("identity.test") == []  # searching opens no CDSE session


async def test_get_json_without_credentials(net):
    net.route("catalogue.test", answers(httpx.Response(200, json=PAGE_1)))
    async with session(net, credentials=None) as s:
        assert s.tokens is None
        page = await s.get_json(PRODUCTS)
    assert page["value"][0]["Id"] == PAGE_1["value"][0]["Id"]


async def test_get_json_400_is_a_service_error_with_status_and_detail(net):
    net.route("catalogue.test", answers(httpx.Response(400, json={"detail": "Invalid odata path"})))
    async with session(net) as s:
        with pytest.raises(ServiceError) as caught:
            await s.get_json(PRODUCTS, {"$filter": "Name eq 'x'"})
    error = caught.value
    assert type(error) is ServiceError
    assert error.status == 400
    assert "Invalid odata path" in str(error)
    assert error.url.startswith(PRODUCTS)
    assert len(net.at("catalogue.test")) == 1  # not retried


async def test_get_json_422_carries_the_pydantic_code(net):
    body = {
        "detail": [
            {
                "type": "less_than_equal",
                "loc": ["query", "$skip"],
                "msg": "Input should be less than or equal to 10000",
                "input": "10001",
                "ctx": {"le": 10000},
            }
        ]
    }
    net.route("catalogue.test", answers(httpx.Response(422, json=body)))
    async with session(net) as s:
        with pytest.raises(ServiceError) as caught:
            await s.get_json(PRODUCTS, {"$skip": "10001"})
    assert caught.value.status == 422
    assert caught.value.code == "less_than_equal"
    assert "query.$skip: Input should be less than or equal to 10000" in str(caught.value)


async def test_get_json_400_with_download_service_code(net):
    body = {"trace-id": "ab" * 16, "code": "DAT-ZIP-104", "message": "Malformed OData request path"}
    net.route("catalogue.test", answers(httpx.Response(400, json=body)))
    async with session(net) as s:
        with pytest.raises(ServiceError) as caught:
            await s.get_json(PRODUCTS)
    assert (caught.value.status, caught.value.code) == (400, "DAT-ZIP-104")
    assert "[DAT-ZIP-104] Malformed OData request path" in str(caught.value)


async def test_get_json_404_is_not_found(net):
    net.route("catalogue.test", answers(httpx.Response(404, json={"detail": "Not Found"})))
    async with session(net) as s:
        with pytest.raises(NotFoundError) as caught:
            await s.get_json(f"{PRODUCTS}(00000000-0000-0000-0000-000000000000)")
    assert caught.value.status == 404
    assert len(net.at("catalogue.test")) == 1


async def test_get_json_retries_503_throttles_and_reports(net):
    log = EventLog()
    net.route(
        "catalogue.test",
        answers(
            httpx.Response(503, headers={"Retry-After": "0"}, text="busy"),
            httpx.Response(500),
            httpx.Response(200, json=PAGE_1),
        ),
    )
    async with session(net, sink=log) as s:
        page = await s.get_json(PRODUCTS)
        assert s.budget.limit == 3
    assert page["@odata.count"] == 47
    assert len(net.at("catalogue.test")) == 3
    retries = log.of(RetryScheduled)
    assert [r.attempt for r in retries] == [1, 2]
    assert "503" in retries[0].reason and "500" in retries[1].reason
    assert [e.limit for e in log.of(QuotaChanged)] == [3]


async def test_get_json_gives_up_after_the_policy_attempts(net):
    net.route("catalogue.test", answers(httpx.Response(502)))
    async with session(net) as s:
        with pytest.raises(RetryableStatusError) as caught:
            await s.get_json(PRODUCTS)
    assert isinstance(caught.value, ServiceError)
    assert caught.value.status == 502
    assert len(net.at("catalogue.test")) == QUICK.attempts


async def test_get_json_unreachable_host_is_a_service_error(net):
    async with session(net) as s:
        with pytest.raises(ServiceError) as caught:
            await s.get_json(PRODUCTS)
    assert caught.value.status is None
    assert "ConnectError" in str(caught.value)
    assert len(net.at("catalogue.test")) == QUICK.attempts


async def test_get_json_rejects_a_body_that_is_not_json(net):
    net.route("catalogue.test", answers(httpx.Response(200, text="<html>maintenance</html>")))
    async with session(net) as s:
        with pytest.raises(ServiceError, match="not a JSON object"):
            await s.get_json(PRODUCTS)


async def test_get_json_never_exceeds_the_connection_budget(net):
    in_flight = 0
    most = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await anyio.sleep(0.005)
        in_flight -= 1
        return httpx.Response(200, json={"value": []})

    net.route("catalogue.test", slow)
    async with session(net, limits=Limits(connections=3)) as s:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for skip in range(0, 500, 10):
                    tg.start_soon(s.get_json, PRODUCTS, {"$skip": str(skip)})
        assert s.budget.peak == 3
    assert most == 3
    assert len(net.at("catalogue.test")) == 50


async def test_stream_yields_the_body_with_the_token(net):
    net.route("download.test", answers(httpx.Response(200, content=b"zipbytes" * 100)))
    async with session(net) as s:
        async with s.stream("GET", PRODUCT, headers={"Range": "bytes=0-"}) as response:
            body = b"".join([chunk async for chunk in response.aiter_bytes()])
        assert s.budget.in_use == 0
    assert body == b"zipbytes" * 100
    [seen] = net.at("download.test")
    assert (seen.authorization, seen.range) == ("Bearer access-1", "bytes=0-")


async def test_stream_replays_a_401_with_a_renewed_token(net):
    def download(request: httpx.Request) -> httpx.Response:
        if not net.bearer_ok(request):
            return httpx.Response(401, json={"code": "DAT-ZIP-109", "message": "token is expired"})
        return httpx.Response(206, content=b"tail")

    net.route("download.test", download)
    async with session(net) as s:
        await s.tokens.token()
        net.keycloak.revoke_access()
        async with s.stream("GET", PRODUCT, headers={"Range": "bytes=4-"}) as response:
            assert response.status_code == 206
            assert await response.aread() == b"tail"
        assert s.tokens.grants == {"password": 1, "refresh_token": 1}
    assert [s.range for s in net.at("download.test")] == ["bytes=4-", "bytes=4-"]


async def test_stream_429_throttles_the_budget(net):
    body = {"trace-id": "0" * 32, "code": "DAT-ZIP-100", "message": "Max session number exceeded"}
    net.route(
        "download.test", answers(httpx.Response(429, json=body, headers={"Retry-After": "0"}))
    )
    log = EventLog()
    async with session(net, sink=log) as s:
        with pytest.raises(RetryableStatusError) as caught:
            async with s.stream("GET", PRODUCT):
                pytest.fail("an error status must not reach the caller's block")
        assert s.budget.limit == 3
        assert s.budget.in_use == 0
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (
        429,
        "DAT-ZIP-100",
        0.0,
    )
    assert "DAT-ZIP-100" in log.of(QuotaChanged)[0].reason


async def test_stream_403_and_404_are_classified(net):
    forbidden = {"code": "DAT-ZIP-608", "message": "Access forbidden"}
    net.route("download.test", answers(httpx.Response(403, json=forbidden)))
    net.route("catalogue.test", answers(httpx.Response(404, json={"detail": "Not Found"})))
    async with session(net) as s:
        with pytest.raises(ServiceError) as caught:
            async with s.stream("GET", PRODUCT):
                pass
        assert (caught.value.status, caught.value.code) == (403, "DAT-ZIP-608")
        with pytest.raises(NotFoundError):
            async with s.stream("POST", "https://catalogue.test/odata/v1/Bursts(x)/$value"):
                pass


async def test_stream_without_credentials_says_how_to_log_in(net):
    net.route(
        "download.test",
        answers(httpx.Response(401, json={"code": "DAT-ZIP-604", "message": "Token not found"})),
    )
    async with session(net, credentials=None) as s:
        with pytest.raises(AuthError) as caught:
            async with s.stream("GET", PRODUCT):
                pass
    assert caught.value.status == 401
    assert "CDSE_USERNAME" in str(caught.value)
    assert "Token not found" in str(caught.value)


async def test_error_messages_never_contain_secrets(net):
    def echo(request: httpx.Request) -> httpx.Response:
        # a misbehaving proxy that echoes the request headers in its error page
        return httpx.Response(400, text=f"bad request; headers: {dict(request.headers)}")

    net.route("download.test", echo)
    async with session(net) as s:
        with pytest.raises(ServiceError) as caught:
            async with s.stream("GET", PRODUCT + "?token=access-1"):
                pass
    text = str(caught.value)
    assert "bad request" in text
    assert "access-1" not in text and CREDENTIALS.password not in text
    assert "access-1" not in caught.value.url


async def test_stream_succeeds_count_toward_recovery(net):
    net.route("download.test", answers(httpx.Response(200, content=b"x")))
    log = EventLog()
    async with session(net, sink=log) as s:
        s.budget.throttle(None, reason="test")
        for _ in range(20):
            async with s.stream("GET", PRODUCT) as response:
                await response.aread()
        assert s.budget.limit == 4
    assert [e.limit for e in log.of(QuotaChanged)] == [3, 4]


async def test_default_transport_session_opens_and_closes():
    async with Session(ENDPOINTS, limits=Limits(connections=2, timeout=5.0)) as s:
        assert s.budget.max_limit == 2
        assert s.tokens is None


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (
            b'{"detail": {"ErrorCode": 400, "ErrorMessage": "Validation error."}}',
            "",
            ("400", "Validation error."),
        ),
        (
            b'{"error": "invalid_grant", "error_description": "Token is not active"}',
            "",
            ("invalid_grant", "Token is not active"),
        ),
        (
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            "text/html",
            (None, "502 Bad Gateway"),
        ),
        (b"", "", (None, None)),
        (b"[1, 2]", "application/json", (None, "[1, 2]")),
    ],
)
def test_error_detail_shapes(body, content_type, expected):
    assert error_detail(body, content_type) == expected


async def test_stream_can_leave_redirects_to_the_caller(net):
    location = "https://download.test/odata/v1/Bursts(b)/$value"
    net.route("catalogue.test", answers(httpx.Response(301, headers={"Location": location})))
    net.route("download.test", answers(httpx.Response(200, content=b"burst")))
    burst = "https://catalogue.test/odata/v1/Bursts(b)/$value"
    async with session(net) as s:
        async with s.stream("POST", burst, follow_redirects=False) as response:
            assert response.status_code == 301
            assert response.headers["Location"] == location
        async with s.stream("POST", location) as response:
            assert await response.aread() == b"burst"
    assert [(x.host, x.method, x.authorization) for x in net.seen if x.host != "identity.test"] == [
        ("catalogue.test", "POST", "Bearer access-1"),
        ("download.test", "POST", "Bearer access-1"),
    ]
