"""The accounts file: what it accepts, and one clear sentence for everything it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from phidown_async.account_list import Account, CredentialSource, check_accounts, load_accounts
from phidown_async.config import Credentials
from phidown_async.errors import ConfigError, CredentialsError

ENV = {"A_USER": "alice@example.com", "A_PASS": "pa55", "B_USER": "bob@example.com", "B_PASS": "x"}
ALICE = '[[account]]\nname = "alice"\nusername_env = "A_USER"\npassword_env = "A_PASS"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accounts.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_accounts_come_from_variables_and_netrc(tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text('machine bob.cdse login bob@example.com password "se cret"\n')
    netrc.chmod(0o600)
    path = write(
        tmp_path,
        ALICE + 'connections = 2\n[[account]]\nname = "bob"\nnetrc_machine = "bob.cdse"\n',
    )

    alice, bob = load_accounts(path, env=ENV, netrc_path=netrc)

    assert alice == Account(
        "alice", Credentials("alice@example.com", "pa55"), 2, CredentialSource("A_USER", "A_PASS")
    )
    assert bob.name == "bob" and bob.connections == 4  # the default quota
    assert bob.credentials == Credentials("bob@example.com", "se cret")
    assert bob.source == CredentialSource(netrc_machine="bob.cdse")
    assert "pa55" not in repr(alice)
    # Where the credentials are reads them again (what a cluster's worker does).
    assert alice.source.read(ENV) == alice.credentials
    assert bob.source.read(netrc_path=netrc) == bob.credentials
    with pytest.raises(CredentialsError, match="environment variable A_PASS is not set"):
        alice.source.read({"A_USER": "alice@example.com"})
    default = CredentialSource().read({"CDSE_USERNAME": "c@example.com", "CDSE_PASSWORD": "p"})
    assert default == Credentials("c@example.com", "p")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "lists no accounts"),
        ("# nothing here\n", "lists no accounts"),
        ("[[account]\n", "is not valid TOML"),
        ('title = "x"\n' + ALICE, "unknown key 'title'"),
        (ALICE.replace('password_env = "A_PASS"', 'password = "pa55"'), "has a 'password' key"),
        (ALICE + 'username = "alice"\n', "has a 'username' key"),
        (ALICE + "connections = 0\n", "connections must be a whole number of at least 1"),
        (ALICE + 'connections = "4"\n', "connections must be a whole number"),
        (ALICE + ALICE, "two accounts are named 'alice'"),
        (ALICE + "colour = 1\n", "unknown key 'colour'"),
        ('[[account]]\nusername_env = "A_USER"\npassword_env = "A_PASS"\n', "has no name"),
        ('[[account]]\nname = "alice"\nusername_env = "A_USER"\n', "needs username_env"),
        (ALICE + 'netrc_machine = "x"\n', "not both"),
    ],
)
def test_a_bad_file_is_one_sentence_naming_the_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_accounts(path, env=ENV)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "pa55" not in str(caught.value)


def test_an_unset_variable_is_named(tmp_path):
    path = write(tmp_path, ALICE)
    with pytest.raises(CredentialsError, match="environment variable A_PASS is not set"):
        load_accounts(path, env={"A_USER": "alice@example.com"})


def test_a_missing_netrc_machine_is_named(tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine other login x password y\n")
    netrc.chmod(0o600)
    path = write(tmp_path, '[[account]]\nname = "bob"\nnetrc_machine = "bob.cdse"\n')
    with pytest.raises(CredentialsError, match=r"no login and password for machine bob\.cdse"):
        load_accounts(path, env={}, netrc_path=netrc)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read .*nowhere\.toml"):
        load_accounts(tmp_path / "nowhere.toml", env=ENV)


def test_accounts_given_in_python_are_checked():
    alice = Account("alice", Credentials("a", "b"))
    assert check_accounts([alice]) == (alice,)
    with pytest.raises(ConfigError, match="no accounts given"):
        check_accounts([])
    with pytest.raises(ConfigError, match="at least 1"):
        Account("bob", Credentials("a", "b"), 0)
    with pytest.raises(ConfigError, match="non-empty name"):
        Account(" ", Credentials("a", "b"))
