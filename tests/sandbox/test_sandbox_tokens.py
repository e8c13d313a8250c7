"""The token endpoint over HTTP: grants, refusals, sessions, token expiry."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

INVALID_CREDENTIALS = {"error": "invalid_grant", "error_description": "Invalid user credentials"}


def claims(jwt: str) -> dict[str, Any]:
    header, payload, signature = jwt.split(".")
    assert header and signature
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_password_grant_replies_like_keycloak(sandbox, login):
    reply = login()

    assert reply.status_code == 200
    body = reply.json()
    assert list(body) == [
        "access_token",
        "expires_in",
        "refresh_expires_in",
        "refresh_token",
        "token_type",
        "not-before-policy",
        "session_state",
        "scope",
    ]
    assert (body["expires_in"], body["refresh_expires_in"]) == (600, 3600)
    assert body["token_type"] == "Bearer"
    access = claims(body["access_token"])
    assert access["exp"] - access["iat"] == 600
    assert access["sid"] == body["session_state"]
    assert access["azp"] == "cdse-public"
    assert claims(body["refresh_token"])["typ"] == "Refresh"
    snapshot = sandbox.counters.snapshot()
    assert snapshot["token_grants"] == {"password": 1}
    assert snapshot["sessions_opened"] == 1


def test_refresh_grant_keeps_the_session_and_is_counted(sandbox, client, login, value_url, product):
    first = login().json()

    reply = client.post(
        sandbox.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": "cdse-public",
        },
    )

    assert reply.status_code == 200
    second = reply.json()
    assert second["access_token"] != first["access_token"]
    assert second["session_state"] == first["session_state"]
    assert sandbox.counters.snapshot()["token_grants"] == {"password": 1, "refresh_token": 1}
    assert sandbox.counters.snapshot()["sessions_opened"] == 1
    download = client.get(
        value_url(product["Id"]), headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert download.status_code == 200


def test_wrong_password_is_refused_with_keycloak_body(sandbox, login):
    reply = login(password="not-the-password")

    assert reply.status_code == 401
    assert reply.json() == INVALID_CREDENTIALS
    assert sandbox.counters.snapshot()["token_grants"] == {}
    assert sandbox.counters.requests("token", 401) == 1


@pytest.mark.reads_only
def test_unknown_user_is_refused(login):
    reply = login(username="somebody-else@example.com")

    assert reply.status_code == 401
    assert reply.json() == INVALID_CREDENTIALS


@pytest.mark.reads_only
def test_user_name_is_case_insensitive(sandbox, login):
    assert login(username=sandbox.config.username.upper()).status_code == 200


def test_expired_refresh_token_is_not_active(sandbox, client, login):
    sandbox.update(refresh_token_lifetime=0.0)
    first = login().json()

    reply = client.post(
        sandbox.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": "cdse-public",
        },
    )

    assert reply.status_code == 400
    assert reply.json() == {"error": "invalid_grant", "error_description": "Token is not active"}


@pytest.mark.reads_only
def test_garbled_refresh_token_is_refused(sandbox, client):
    reply = client.post(
        sandbox.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": "abc.def.ghi",
            "client_id": "cdse-public",
        },
    )

    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_grant"


@pytest.mark.reads_only
def test_other_client_id_is_an_invalid_client(login):
    reply = login(client_id="sh-12345")

    assert reply.status_code == 401
    assert reply.json()["error"] == "invalid_client"


@pytest.mark.reads_only
def test_missing_grant_type_is_an_invalid_request(sandbox, client):
    reply = client.post(sandbox.token_url, data={"client_id": "cdse-public"})

    assert reply.status_code == 400
    assert reply.json() == {
        "error": "invalid_request",
        "error_description": "Missing form parameter: grant_type",
    }


@pytest.mark.reads_only
def test_lower_case_realm_works_and_unknown_realm_does_not(sandbox, client):
    form = {
        "grant_type": "password",
        "username": sandbox.config.username,
        "password": sandbox.config.password,
        "client_id": "cdse-public",
    }

    lower = client.post(sandbox.token_url.replace("/realms/CDSE/", "/realms/cdse/"), data=form)
    other = client.post(sandbox.token_url.replace("/realms/CDSE/", "/realms/master/"), data=form)

    assert lower.status_code == 200
    assert other.status_code == 404


def test_sessions_beyond_the_limit_are_refused_but_refresh_still_works(sandbox, client, login):
    sandbox.update(max_sessions=2)
    first, second = login(), login()

    third = login()

    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 401
    assert third.json() == INVALID_CREDENTIALS
    assert sandbox.counters.snapshot()["sessions_refused"] == 1
    refreshed = client.post(
        sandbox.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": first.json()["refresh_token"],
            "client_id": "cdse-public",
        },
    )
    assert refreshed.status_code == 200


def test_expired_access_token_gets_dat_zip_109(sandbox, client, login, value_url, product):
    sandbox.update(access_token_lifetime=0.0)
    access = login().json()["access_token"]

    reply = client.get(value_url(product["Id"]), headers={"Authorization": f"Bearer {access}"})

    assert reply.status_code == 401
    assert reply.json()["code"] == "DAT-ZIP-109"
    assert "expired" in reply.json()["message"]


@pytest.mark.reads_only
def test_forged_access_token_is_refused(sandbox, client, token, value_url, product):
    header, payload, _ = token.split(".")
    forged = f"{header}.{payload}.{base64.urlsafe_b64encode(b'x' * 32).decode().rstrip('=')}"

    reply = client.get(value_url(product["Id"]), headers={"Authorization": f"Bearer {forged}"})

    assert reply.status_code == 401
    assert reply.json()["code"] == "DAT-ZIP-109"
