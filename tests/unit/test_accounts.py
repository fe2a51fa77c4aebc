"""Users: unique email in any case, Argon2, password rules, sign-in, profile and language."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http.response import HttpResponseBase
from django.test import Client

from config.settings import base as base_settings
from cuspid.accounts.models import User
from cuspid.accounts.services import (
    user_create,
    user_language_set,
    user_password_set,
    user_profile_update,
)
from cuspid.core.errors import InvalidInput
from tests.factories import TEST_PASSWORD, make_user

SignedIn = Callable[[User], Client]

PASSPHRASE_64 = "molar crown bridge veneer implant scan lab clinic patient chair!"


# --- the email login name --------------------------------------------------------------------


def test_email_is_unique_in_any_letter_case_at_the_database(db: None) -> None:
    User.objects.create(email="bob@x.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="Bob@X.example")
    assert User.objects.filter(email__iexact="bob@x.example").count() == 1


def test_user_create_refuses_an_email_taken_in_another_case(db: None) -> None:
    user_create(email="bob@x.example", password=PASSPHRASE_64)
    with pytest.raises(InvalidInput):
        user_create(email="  Bob@X.example ", password=PASSPHRASE_64)
    assert User.objects.count() == 1


def test_user_create_stores_a_lowercase_email_and_a_hashed_password(db: None) -> None:
    user = user_create(email=" Carol@Clinic.Example ", password=PASSPHRASE_64, full_name="Carol")
    user.refresh_from_db()
    assert user.email == "carol@clinic.example"
    assert user.full_name == "Carol"
    assert PASSPHRASE_64 not in user.password
    assert user.check_password(PASSPHRASE_64)
    assert not user.is_staff


def test_user_create_refuses_an_unsupported_language(db: None) -> None:
    with pytest.raises(InvalidInput):
        user_create(email="d@x.example", password=PASSPHRASE_64, language="de")
    assert not User.objects.exists()


def test_natural_key_lookup_ignores_case(db: None) -> None:
    user = make_user(email="erin@x.example")
    assert User.objects.get_by_natural_key("ERIN@X.EXAMPLE") == user


# --- password hashing and rules --------------------------------------------------------------


def test_base_settings_hash_with_argon2() -> None:
    assert base_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_argon2_hasher_produces_argon2id_hashes() -> None:
    from django.contrib.auth.hashers import Argon2PasswordHasher

    encoded = Argon2PasswordHasher().encode(PASSPHRASE_64, "somesaltvalue123")
    assert encoded.startswith("argon2$argon2id$")
    assert Argon2PasswordHasher().verify(PASSPHRASE_64, encoded)


def test_password_set_replaces_the_hash(db: None) -> None:
    user = make_user()
    user_password_set(user=user, password=PASSPHRASE_64)
    user.refresh_from_db()
    assert user.check_password(PASSPHRASE_64)
    assert not user.check_password(TEST_PASSWORD)


def test_password_of_11_characters_is_rejected() -> None:
    with pytest.raises(ValidationError) as error:
        validate_password("vqk7Rm2pXa9")
    assert "password_too_short" in [e.code for e in error.value.error_list]


def test_password_of_12_characters_is_accepted() -> None:
    validate_password("vqk7Rm2pXa9w")


def test_passphrase_of_64_characters_is_accepted() -> None:
    assert len(PASSPHRASE_64) == 64
    validate_password(PASSPHRASE_64)


def test_password_of_128_characters_is_accepted_and_129_rejected() -> None:
    validate_password(("plaque tartar " * 10)[:128])
    with pytest.raises(ValidationError) as error:
        validate_password(("plaque tartar " * 10)[:129])
    assert [e.code for e in error.value.error_list] == ["password_too_long"]


def test_common_password_is_rejected() -> None:
    with pytest.raises(ValidationError) as error:
        validate_password("password1234")
    assert "password_too_common" in [e.code for e in error.value.error_list]


def test_password_like_the_email_is_rejected(db: None) -> None:
    user = User(email="margaret.hamilton@clinic.example")
    with pytest.raises(ValidationError) as error:
        validate_password("margaret.hamilton@clinic", user=user)
    # cuspid.accounts.passwords.ContextWordsValidator (it replaced Django's similarity check)
    assert [e.code for e in error.value.error_list] == ["password_has_context_word"]


# --- sign-in through allauth -----------------------------------------------------------------


def _sign_in(client: Client, login: str, password: str) -> int:
    return client.post("/accounts/login/", {"login": login, "password": password}).status_code


def test_sign_in_with_the_right_password(db: None) -> None:
    user = make_user(email="frank@x.example")
    client = Client()
    assert _sign_in(client, "frank@x.example", TEST_PASSWORD) == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get("/").status_code == 200


def test_sign_in_with_the_email_in_another_case(db: None) -> None:
    user = make_user(email="grace@x.example")
    client = Client()
    assert _sign_in(client, "Grace@X.EXAMPLE", TEST_PASSWORD) == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_sign_in_with_a_wrong_password_fails(db: None) -> None:
    make_user(email="heidi@x.example")
    client = Client()
    response = client.post(
        "/accounts/login/", {"login": "heidi@x.example", "password": TEST_PASSWORD + "x"}
    )
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_sign_in_of_a_deactivated_user_fails(db: None) -> None:
    make_user(email="ivan@x.example", is_active=False)
    client = Client()
    client.post("/accounts/login/", {"login": "ivan@x.example", "password": TEST_PASSWORD})
    assert "_auth_user_id" not in client.session


def test_sign_in_rotates_the_session_id(db: None) -> None:
    make_user(email="judy@x.example")
    client = Client()
    client.get("/accounts/login/")
    client.session.save()
    before = client.session.session_key
    assert _sign_in(client, "judy@x.example", TEST_PASSWORD) == 302
    assert client.session.session_key != before


def test_sign_up_is_closed(db: None) -> None:
    client = Client()
    page = client.get("/accounts/signup/")
    assert page.status_code == 200
    assert b'name="password1"' not in page.content
    response = client.post(
        "/accounts/signup/", {"email": "mallory@x.example", "password1": PASSPHRASE_64}
    )
    assert response.status_code in {200, 302}
    assert not User.objects.filter(email__iexact="mallory@x.example").exists()
    assert "_auth_user_id" not in client.session


# --- profile ---------------------------------------------------------------------------------


def test_profile_saves_name_and_language_and_sets_the_cookie(
    user: User, signed_in: SignedIn
) -> None:
    client = signed_in(user)
    response = client.post("/profile/", {"full_name": "  Ada Lovelace ", "language": "fr"})
    assert response.status_code == 302
    assert response["Location"] == "/profile/"
    user.refresh_from_db()
    assert user.full_name == "Ada Lovelace"
    assert user.language == "fr"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "fr"
    assert cookie["httponly"] is True
    page = client.get("/profile/")
    assert page.content.decode().startswith("<!DOCTYPE html>")
    assert '<html lang="fr">' in page.content.decode()


def test_profile_refuses_an_unknown_language(user: User, signed_in: SignedIn) -> None:
    response = signed_in(user).post("/profile/", {"full_name": "X", "language": "xx"})
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.language == "en"
    assert user.full_name != "X"
    # The cookie, if written at all, keeps the user's saved language.
    assert _language_cookie(response) in (None, "en")


def test_profile_service_refuses_an_unknown_language(user: User) -> None:
    with pytest.raises(InvalidInput):
        user_profile_update(user=user, full_name="X", language="xx")
    with pytest.raises(InvalidInput):
        user_language_set(user=user, language="xx")


# --- language switcher -----------------------------------------------------------------------


def test_language_switch_for_an_anonymous_visitor_sets_the_cookie(db: None) -> None:
    client = Client()
    response = client.post("/language/", {"language": "fr", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"
    page = client.get("/accounts/login/")
    assert '<html lang="fr">' in page.content.decode()


def test_language_switch_is_saved_on_the_account(user: User, signed_in: SignedIn) -> None:
    client = signed_in(user)
    response = client.post("/language/", {"language": "fr", "next": "/profile/"})
    assert response.status_code == 302
    assert response["Location"] == "/profile/"
    user.refresh_from_db()
    assert user.language == "fr"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fr"


def test_saved_language_wins_over_the_cookie(user: User, signed_in: SignedIn) -> None:
    user_language_set(user=user, language="fr")
    client = signed_in(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get("/profile/", headers={"Accept-Language": "en"})
    assert '<html lang="fr">' in page.content.decode()


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/path", "http://evil.example", "javascript:alert(1)"],
)
def test_language_switch_refuses_an_off_site_next(target: str, db: None) -> None:
    response = Client().post("/language/", {"language": "fr", "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_language_switch_ignores_an_unknown_language(user: User, signed_in: SignedIn) -> None:
    response = signed_in(user).post("/language/", {"language": "xx", "next": "/profile/"})
    assert response.status_code == 302
    assert _language_cookie(response) in (None, "en")
    user.refresh_from_db()
    assert user.language == "en"


def test_the_language_cookie_follows_the_saved_language_after_sign_in(
    user: User, signed_in: SignedIn
) -> None:
    user.language = "fr"
    user.save(update_fields=["language"])
    client = signed_in(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get("/profile/")
    assert '<html lang="fr">' in response.content.decode()
    assert _language_cookie(response) == "fr"
    client.post("/accounts/logout/")
    assert '<html lang="fr">' in client.get("/accounts/login/").content.decode()


def test_language_switch_refuses_get(db: None) -> None:
    assert Client().get("/language/").status_code == 405


def _language_cookie(response: HttpResponseBase) -> str | None:
    morsel = response.cookies.get(settings.LANGUAGE_COOKIE_NAME)
    return None if morsel is None else morsel.value


def test_users_cannot_add_email_addresses_to_their_account(user: User, signed_in: SignedIn) -> None:
    client = signed_in(user)
    assert client.get("/accounts/email/").status_code == 404
    response = client.post("/accounts/email/", {"email": "second@else.example", "action_add": ""})
    assert response.status_code == 404
    assert not User.objects.filter(email="second@else.example").exists()
    addresses = EmailAddress.objects.filter(user=user).values_list("email", flat=True)
    assert list(addresses) in ([], [user.email])


def test_password_reset_mails_only_existing_accounts(user: User) -> None:
    from django.core import mail

    client = Client()
    client.post("/accounts/password/reset/", {"email": "stranger@nowhere.example"})
    client.post("/accounts/password/reset/", {"email": user.email.upper()})
    assert [message.to for message in mail.outbox] == [[user.email]]
    assert mail.outbox[0].subject.startswith("[Cuspid] ")
