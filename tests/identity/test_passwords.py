"""Password hashing and policy (identity.md "Users")."""

from __future__ import annotations

import threading

import bcrypt
import pytest

from basis.identity import passwords
from basis.identity.passwords import hash_password, policy_problem, verify_password


async def test_production_hash_is_argon2id_with_strong_parameters() -> None:
    hashed = await hash_password("a long enough passphrase")
    assert hashed.startswith("$argon2id$")
    params = dict(p.split("=") for p in hashed.split("$")[3].split(","))
    assert int(params["m"]) >= 19456 and int(params["t"]) >= 2
    assert await verify_password("a long enough passphrase", hashed) == (True, None)
    assert (await verify_password("a long enough passphrasE", hashed))[0] is False


async def test_fast_profile_is_cheaper_but_same_algorithm() -> None:
    hashed = await hash_password("a long enough passphrase", profile="fast")
    assert hashed.startswith("$argon2id$")
    # A cheap hash is upgraded to production parameters when verified by a production server.
    valid, upgraded = await verify_password("a long enough passphrase", hashed, profile="production")
    assert valid and upgraded is not None and "m=19456,t=2,p=1" in upgraded


async def test_bcrypt_hashes_verify_and_are_marked_for_upgrade() -> None:
    legacy = bcrypt.hashpw(b"legacy password 1", bcrypt.gensalt(rounds=4)).decode()
    valid, upgraded = await verify_password("legacy password 1", legacy, profile="fast")
    assert valid and upgraded is not None and upgraded.startswith("$argon2id$")
    assert (await verify_password("legacy password 2", legacy, profile="fast")) == (False, None)


async def test_no_truncation_long_passwords_differ_in_the_last_character() -> None:
    base = "x" * 200
    hashed = await hash_password(base + "a", profile="fast")
    assert (await verify_password(base + "a", hashed, profile="fast"))[0]
    assert not (await verify_password(base + "b", hashed, profile="fast"))[0]
    # bcrypt sees only 72 bytes: a longer password never matches a bcrypt hash by its prefix.
    legacy = bcrypt.hashpw(b"y" * 72, bcrypt.gensalt(rounds=4)).decode()
    assert not (await verify_password("y" * 72 + "extra", legacy, profile="fast"))[0]


async def test_input_over_the_cap_is_refused_without_hashing() -> None:
    with pytest.raises(ValueError):
        await hash_password("z" * 1025, profile="fast")
    hashed = await hash_password("z" * 1024, profile="fast")
    assert (await verify_password("z" * 1024, hashed, profile="fast"))[0]
    assert (await verify_password("z" * 5000, hashed, profile="fast")) == (False, None)


async def test_unknown_hash_format_is_a_failed_verification_not_an_error() -> None:
    assert await verify_password("whatever12", "plaintext-in-db", profile="fast") == (False, None)


async def test_hashing_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    real = passwords.hasher("fast")

    class Spy:
        def hash(self, password: str) -> str:
            seen.append(threading.get_ident())
            return real.hash(password)

        def verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]:
            seen.append(threading.get_ident())
            return real.verify_and_update(password, hashed)

    monkeypatch.setattr(passwords, "hasher", lambda profile="production": Spy())
    hashed = await hash_password("a long enough passphrase", profile="fast")
    await verify_password("a long enough passphrase", hashed, profile="fast")
    assert len(seen) == 2 and loop_thread not in seen


@pytest.mark.parametrize(
    ("password", "refused"),
    [
        ("short", True),  # under 8 characters
        ("1234567", True),
        ("password1", True),  # common
        ("Password123", True),  # common, case does not help
        ("qwerty2024", True),
        ("aaaaaaaaaaaa", True),
        ("12345678", True),
        ("eight ch", False),  # exactly 8, no composition rules
        ("alllowercaseletters", False),
        ("x" * 64, True),  # too few distinct characters
        ("correct horse battery staple " * 2, False),  # 64+ allowed
        ("ab" + "c" * 1022, False),  # 1024 bytes allowed
        ("ab" + "c" * 1023, True),  # over the cap
        ("пароль-кириллицей", False),  # any Unicode
    ],
)
def test_policy(password: str, refused: bool) -> None:
    assert (policy_problem(password) is not None) is refused


def test_policy_refuses_passwords_built_on_the_account_name() -> None:
    assert policy_problem("jsmith2024", context=("jsmith@example.com", None))
    assert policy_problem("warehouse-boss", context=(None, "warehouse-boss"))
    assert policy_problem("a sentence about jsmith", context=("jsmith@example.com", None)) is None


def test_common_list_is_large_enough_for_asvs() -> None:
    # ASVS 5.0 6.2.4: at least the top 3000 passwords that meet the length rule.
    assert len(passwords.common_passwords()) >= 3000
    assert all(len(p) >= 8 for p in passwords.common_passwords())
