"""The shared services against the simulated CDSE on loopback (real HTTP, real redirects)."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from phidown_async.config import Credentials, Limits
from phidown_async.events import EventLog, QuotaChanged, RetryScheduled
from phidown_async.retry import RetryPolicy
from phidown_async.sandbox import Faults, Sandbox, SandboxConfig
from phidown_async.session import Session

PATIENT = RetryPolicy(attempts=12, initial_delay=0.02, max_delay=0.2, jitter=0.02)


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    knobs = getattr(request, "param", {})
    config = SandboxConfig(products=12, seed=3, product_size=24 * 1024, **knobs)
    with Sandbox(config) as running:
        yield running


def open_session(sandbox: Sandbox, *, connections: int = 4, sink=None) -> Session:
    credentials = Credentials(sandbox.config.username, sandbox.config.password)
    return Session(
        sandbox.endpoints,
        credentials,
        limits=Limits(connections=connections, timeout=10.0),
        retry=PATIENT,
        **({"sink": sink} if sink else {}),
    )


async def fetch(session: Session, url: str, item: str) -> bytes:
    """One download, retried (and so resumed from scratch) per the session's policy."""
    async for attempt in session.retrying(item):
        with attempt:
            async with session.stream("GET", url) as response:
                return await response.aread()
    raise AssertionError("unreachable: tenacity re-raises the last error")


async def fetch_all(session: Session, sandbox: Sandbox, jobs: int) -> dict[str, list[int]]:
    """``jobs`` concurrent downloads through the catalogue's 301; sizes received per product."""
    products = [p["Id"] for p in sandbox.archive.products]
    sizes: dict[str, list[int]] = {}

    async def one(n: int) -> None:
        product_id = products[n % len(products)]
        url = f"{sandbox.endpoints.catalogue_url}/Products({product_id})/$value"
        body = await fetch(session, url, product_id)
        sizes.setdefault(product_id, []).append(len(body))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for n in range(jobs):
                tg.start_soon(one, n)
    return sizes


def expected_sizes(sandbox: Sandbox, sizes: dict[str, list[int]]) -> dict[str, list[int]]:
    return {
        pid: [sandbox.archive.product(pid)["ContentLength"]] * len(got)
        for pid, got in sizes.items()
    }


async def test_search_opens_no_session(sandbox):
    async with open_session(sandbox) as session:
        page = await session.get_json(sandbox.endpoints.products_url, {"$top": "5"})
    assert len(page["value"]) == 5
    assert sandbox.counters.snapshot()["token_grants"] == {}


@pytest.mark.parametrize("sandbox", [{"max_connections": 8}], indirect=True)
async def test_sixty_four_downloads_one_login_and_within_budget(sandbox):
    async with open_session(sandbox, connections=4) as session:
        sizes = await fetch_all(session, sandbox, 64)
        assert session.budget.peak == 4
    assert sum(len(v) for v in sizes.values()) == 64
    assert sizes == expected_sizes(sandbox, sizes)
    assert sandbox.counters.snapshot()["token_grants"] == {"password": 1}
    # the bearer crossed the catalogue -> download redirect: no request was refused
    assert sandbox.counters.requests("product", 401) == 0
    assert sandbox.counters.requests("product", 200) == 64


@pytest.mark.parametrize(
    "sandbox", [{"access_token_lifetime": 1.0, "refresh_token_lifetime": 30.0}], indirect=True
)
async def test_short_lived_tokens_are_refreshed_not_relogged(sandbox):
    async with open_session(sandbox) as session:
        for _ in range(3):
            sizes = await fetch_all(session, sandbox, 4)
            assert sizes == expected_sizes(sandbox, sizes)
            await anyio.sleep(1.0)  # past the 1 s lifetime: the next round must refresh
    grants = sandbox.counters.snapshot()["token_grants"]
    assert grants["password"] == 1
    assert grants["refresh_token"] >= 2


async def test_revoked_token_is_renewed_and_the_download_completes(sandbox):
    # The first request of every product loses its token (revoked) and its connection.
    sandbox.set_faults(Faults(schedule={"revoke": (1,)}))
    log = EventLog()
    async with open_session(sandbox, connections=1, sink=log) as session:
        sizes = await fetch_all(session, sandbox, 2)
    assert sizes == expected_sizes(sandbox, sizes)
    grants = sandbox.counters.snapshot()["token_grants"]
    assert grants["password"] == 1
    assert sum(grants.values()) == 3  # one login, one renewal per revoked token
    assert sandbox.counters.requests("product", 401) == 2
    assert len(log.of(RetryScheduled)) == 2


@pytest.mark.parametrize("sandbox", [{"max_connections": 2}], indirect=True)
async def test_quota_429s_lower_the_budget_and_everything_arrives(sandbox):
    log = EventLog()
    async with open_session(sandbox, connections=6, sink=log) as session:
        sizes = await fetch_all(session, sandbox, 24)
    assert sum(len(v) for v in sizes.values()) == 24
    assert sizes == expected_sizes(sandbox, sizes)
    assert sandbox.counters.requests("product", 429) >= 1
    limits = [e.limit for e in log.of(QuotaChanged)]
    assert limits and min(limits) < 6
    assert sandbox.counters.snapshot()["token_grants"] == {"password": 1}
