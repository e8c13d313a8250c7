"""AuthTransport: the token goes to trusted hosts only, also across redirects; 401 replay."""

from __future__ import annotations

import anyio
import httpx
import pytest
from engine_fakes import CREDENTIALS, ENDPOINTS, TOKEN_URL, FakeClock, FakeNet, Keycloak

from phidown_async.auth import NO_AUTH, AuthTransport, TokenService

PRODUCT = "https://download.test/odata/v1/Products(abc)/$value"
BODY = b"0123456789" * 10


def client_for(net: FakeNet, *, anonymous: bool = False) -> tuple[httpx.AsyncClient, TokenService]:
    tokens = TokenService(
        httpx.AsyncClient(transport=net.transport()), TOKEN_URL, CREDENTIALS, clock=FakeClock()
    )
    transport = AuthTransport(net.transport(), None if anonymous else tokens, ENDPOINTS.is_trusted)
    return httpx.AsyncClient(transport=transport, follow_redirects=True), tokens


def download_host(net: FakeNet):
    """The download service: 401 DAT-ZIP-604 without a valid token, else the (ranged) body."""

    def handle(request: httpx.Request) -> httpx.Response:
        if not net.bearer_ok(request):
            return httpx.Response(401, json={"code": "DAT-ZIP-604", "message": "Token not found"})
        header = request.headers.get("Range")
        if header:
            start = int(header.removeprefix("bytes=").rstrip("-"))
            return httpx.Response(206, content=BODY[start:])
        return httpx.Response(200, content=BODY)

    return handle


def redirect_to(location: str, status: int = 301):
    return lambda request: httpx.Response(status, headers={"Location": location})


async def test_bearer_goes_to_trusted_hosts_only(net):
    net.route("download.test", download_host(net))
    net.route("elsewhere.test", lambda request: httpx.Response(200, text="hi"))
    client, _ = client_for(net)
    async with client:
        assert (await client.get(PRODUCT)).content == BODY
        third = await client.get(
            "https://elsewhere.test/x", headers={"Authorization": "Bearer leaked"}
        )
        assert third.status_code == 200
    assert [s.authorization for s in net.at("download.test")] == ["Bearer access-1"]
    assert [s.authorization for s in net.at("elsewhere.test")] == [None]
    # the token request itself never carries a bearer
    assert [s.authorization for s in net.at("identity.test")] == [None]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_to_an_untrusted_host_drops_the_token(net, status):
    net.route("catalogue.test", redirect_to("https://evil.test/steal", status))
    net.route("evil.test", lambda request: httpx.Response(200, text="gotcha"))
    client, _ = client_for(net)
    async with client:
        response = await client.get("https://catalogue.test/odata/v1/Products(abc)/$value")
    assert response.text == "gotcha"
    assert net.at("catalogue.test")[0].authorization == "Bearer access-1"
    assert [s.authorization for s in net.at("evil.test")] == [None]


async def test_redirect_to_another_port_of_a_trusted_host_drops_the_token(net):
    # Another port is another origin, not a configured CDSE service.
    def catalogue(request: httpx.Request) -> httpx.Response:
        if request.url.port == 8080:
            return httpx.Response(200, text="side door")
        return httpx.Response(301, headers={"Location": "https://catalogue.test:8080/x"})

    net.route("catalogue.test", catalogue)
    client, _ = client_for(net)
    async with client:
        response = await client.get("https://catalogue.test/odata/v1/Products(abc)/$value")
    assert response.text == "side door"
    assert [s.authorization for s in net.at("catalogue.test")] == ["Bearer access-1", None]


async def test_redirect_between_trusted_hosts_keeps_the_token(net):
    # catalogue -> download is cross-origin, so httpx strips Authorization; CDSE needs it.
    net.route("catalogue.test", redirect_to(PRODUCT))
    net.route("download.test", download_host(net))
    client, _ = client_for(net)
    async with client:
        response = await client.get("https://catalogue.test/odata/v1/Products(abc)/$value")
    assert response.content == BODY
    assert [s.authorization for s in net.at("download.test")] == ["Bearer access-1"]


async def test_chain_trusted_untrusted_trusted(net):
    net.route("catalogue.test", redirect_to("https://mirror.test/hop"))
    net.route("mirror.test", redirect_to(PRODUCT, 307))
    net.route("download.test", download_host(net))
    client, _ = client_for(net)
    async with client:
        response = await client.get("https://catalogue.test/odata/v1/Products(abc)/$value")
    assert response.content == BODY
    assert [s.authorization for s in net.at("mirror.test")] == [None]
    assert [s.authorization for s in net.at("download.test")] == ["Bearer access-1"]


async def test_401_is_replayed_once_with_a_new_token_and_the_same_range(net):
    net.route("download.test", download_host(net))
    client, tokens = client_for(net)
    async with client:
        await tokens.token()
        net.keycloak.revoke_access()  # the server revokes the token mid-run
        response = await client.get(PRODUCT, headers={"Range": "bytes=40-"})
    assert response.status_code == 206
    assert response.content == BODY[40:]
    seen = net.at("download.test")
    assert [(s.authorization, s.range) for s in seen] == [
        ("Bearer access-1", "bytes=40-"),
        ("Bearer access-2", "bytes=40-"),
    ]
    assert tokens.grants == {"password": 1, "refresh_token": 1}


async def test_many_concurrent_401s_cause_one_renewal():
    net = FakeNet(Keycloak(delay=0.02))
    net.route("download.test", download_host(net))
    client, tokens = client_for(net)
    statuses: list[int] = []

    async def fetch() -> None:
        statuses.append((await client.get(PRODUCT)).status_code)

    async with client:
        await tokens.token()
        net.keycloak.revoke_access()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for _ in range(64):
                    tg.start_soon(fetch)
    assert statuses == [200] * 64
    assert tokens.grants == {"password": 1, "refresh_token": 1}


async def test_persistent_401_is_returned_after_one_replay(net):
    net.route("download.test", lambda request: httpx.Response(401, json={"code": "DAT-ZIP-609"}))
    client, tokens = client_for(net)
    async with client:
        response = await client.get(PRODUCT)
    assert response.status_code == 401
    assert len(net.at("download.test")) == 2
    assert tokens.grants == {"password": 1, "refresh_token": 1}


async def test_no_auth_requests_get_a_token_only_when_asked(net):
    def catalogue(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Bursts(b)/$value") and not net.bearer_ok(request):
            return httpx.Response(401, json={"detail": "Unauthorized"})
        return httpx.Response(200, json={"value": []})

    net.route("catalogue.test", catalogue)
    client, tokens = client_for(net)
    async with client:
        search = await client.get(
            "https://catalogue.test/odata/v1/Products", extensions={NO_AUTH: True}
        )
        assert search.status_code == 200
        assert tokens.grants == {"password": 0, "refresh_token": 0}
        burst = await client.post(
            "https://catalogue.test/odata/v1/Bursts(b)/$value", extensions={NO_AUTH: True}
        )
    assert burst.status_code == 200
    assert [s.authorization for s in net.at("catalogue.test")] == [None, None, "Bearer access-1"]


async def test_anonymous_transport_sends_no_token_and_returns_the_401(net):
    net.route("download.test", download_host(net))
    client, _ = client_for(net, anonymous=True)
    async with client:
        response = await client.get(PRODUCT)
    assert response.status_code == 401
    assert [s.authorization for s in net.at("download.test")] == [None]
    assert net.at("identity.test") == []
