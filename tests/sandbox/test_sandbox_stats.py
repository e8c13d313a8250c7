"""Several sandbox users and the ``/_sandbox/stats`` contract (in Python and over HTTP)."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from phidown_async.sandbox import Sandbox, SandboxConfig

USER_KEYS = {"peak_downloads", "password_grants", "refresh_grants", "throttled"}


@pytest.fixture
def config() -> SandboxConfig:
    return SandboxConfig(products=4, seed=5, product_size=32 * 1024, users=3, max_connections=1)


def grant(client: httpx.Client, sandbox: Sandbox, **form: str) -> httpx.Response:
    return client.post(sandbox.token_url, data={"client_id": "cdse-public", **form})


def password_grant(client: httpx.Client, sandbox: Sandbox, user: dict[str, str]) -> dict:
    reply = grant(client, sandbox, grant_type="password", **user)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_users_are_listed_and_each_logs_in_with_its_own_password(sandbox, client):
    users = sandbox.users
    assert [sorted(u) for u in users] == [["password", "username"]] * 3
    assert users[0] == {"username": sandbox.config.username, "password": sandbox.config.password}
    assert len({u["username"] for u in users}) == len({u["password"] for u in users}) == 3
    for user in users:
        password_grant(client, sandbox, user)
    # One user's password does not open another's account.
    crossed = {"username": users[1]["username"], "password": users[2]["password"]}
    assert grant(client, sandbox, grant_type="password", **crossed).status_code == 401


def test_stats_count_grants_peaks_throttling_and_bytes_per_user(sandbox, client):
    first, second, third = sandbox.users
    tokens = password_grant(client, sandbox, second)
    refreshed = grant(
        client, sandbox, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert refreshed.status_code == 200
    item = sandbox.archive.products[0]["Id"]
    url = f"{sandbox.endpoints.download_url}/Products({item})/$value"
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}

    sandbox.update(bandwidth=0.01)  # 10 kB/s: the first download stays open while we probe
    with client.stream("GET", url, headers=auth) as held:
        assert held.status_code == 200
        # The second download of a user with quota 1 is refused while the first runs.
        assert client.get(url, headers=auth).status_code == 429
        sandbox.update(bandwidth=None)
        body = held.read()

    stats = client.get(f"{sandbox.endpoints.catalogue_url}/_sandbox/stats").json()
    assert stats == sandbox.stats()
    assert set(stats) == {"users", "items"}
    assert set(stats["users"]) == {first["username"], second["username"], third["username"]}
    assert all(set(counts) == USER_KEYS for counts in stats["users"].values())
    assert stats["users"][second["username"]] == {
        "peak_downloads": 1,
        "password_grants": 1,
        "refresh_grants": 1,
        "throttled": 1,
    }
    assert stats["users"][first["username"]] == dict.fromkeys(USER_KEYS, 0)
    assert stats["items"] == {item: len(body)}

    sandbox.counters.reset()
    assert sandbox.stats()["users"][second["username"]] == dict.fromkeys(USER_KEYS, 0)
    assert sandbox.stats()["items"] == {}


def test_stats_are_never_delayed_nor_faulted(client):
    config = SandboxConfig(products=2, catalogue_latency=5.0, faults=_catalogue_faults())
    with Sandbox(config) as sandbox:
        reply = client.get(f"{sandbox.endpoints.catalogue_url}/_sandbox/stats", timeout=2.0)
    assert reply.status_code == 200
    assert set(reply.json()["users"]) == {config.username}


def _catalogue_faults():
    from phidown_async.sandbox import Faults

    return Faults(catalogue_rates={"500": 1.0})


def test_users_must_be_at_least_one():
    with pytest.raises(ValueError, match="users must be at least 1"):
        SandboxConfig(users=0)


def test_cli_lists_users_and_serves_their_stats(tmp_path):
    command = [
        *[sys.executable, "-c", "from phidown_async.cli import main; main()"],
        *["sandbox", "--products", "3", "--users", "2", "--quota", "2"],
        *["--data-dir", str(tmp_path)],
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        users = info["users"]
        with httpx.Client(timeout=10) as client:
            reply = client.post(
                info["token_url"],
                data={"grant_type": "password", "client_id": "cdse-public", **users[1]},
            )
            assert reply.status_code == 200
            stats = client.get(info["catalogue_url"] + "/_sandbox/stats").json()
    finally:
        process.terminate()
        process.communicate(timeout=20)

    assert len(users) == 2 and users[0]["username"] == info["username"]
    assert stats["users"][users[1]["username"]]["password_grants"] == 1
    assert stats["users"][users[0]["username"]]["password_grants"] == 0
