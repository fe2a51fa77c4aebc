"""The French catalogue is complete, compiled, and used by the pages.

``makemessages`` runs on a copy of the sources and of ``locale/`` so the repository is never
touched; the committed ``.mo`` is compared with its ``.po`` entry by entry.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import translation

from cuspid.accounts.models import User
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from cuspid.web.allauth_strings import ALLAUTH_STRINGS
from tests.conftest import require_service

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
PO = LOCALE_DIR / "fr" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")

# The same folders the documented `makemessages` command ignores; they are not copied either.
IGNORED = ["node_modules", ".venv", "var", "tests", "static", ".tools"]
SOURCE_SUFFIXES = {".py", ".html", ".txt"}  # what makemessages reads by default

Entry = tuple[str, str, str, tuple[str, ...]]  # msgctxt, msgid, msgid_plural, translations


def _copy_sources(destination: Path) -> None:
    """Copy the files makemessages would read, and locale/, from the project root."""
    root = Path(settings.BASE_DIR)
    skipped = {*IGNORED, "locale", "__pycache__"}
    for directory, subdirectories, files in os.walk(root):
        # Prune in place so os.walk never descends into node_modules, .venv and the like.
        subdirectories[:] = [d for d in subdirectories if d not in skipped and d[0] != "."]
        for name in files:
            source = Path(directory) / name
            if source.suffix in SOURCE_SUFFIXES:
                target = destination / source.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    shutil.copytree(LOCALE_DIR, destination / "locale")


def _gettext_tools_available() -> bool:
    return all(shutil.which(tool) for tool in ("xgettext", "msguniq", "msgmerge"))


def _catalogue(entries: list[polib.POEntry] | list[polib.MOEntry]) -> dict[str, Entry]:
    """Entries a compiled catalogue holds: translated, neither fuzzy nor obsolete."""
    out: dict[str, Entry] = {}
    for entry in entries:
        fuzzy = getattr(entry, "fuzzy", False)  # only .po entries carry flags
        translations = (
            tuple(entry.msgstr_plural[k] for k in sorted(entry.msgstr_plural))
            if entry.msgid_plural
            else (entry.msgstr,)
        )
        if entry.obsolete or fuzzy or not entry.msgid or not all(translations):
            continue
        key = f"{entry.msgctxt or ''}\x04{entry.msgid}"
        out[key] = (entry.msgctxt or "", entry.msgid, entry.msgid_plural or "", translations)
    return out


def test_every_string_has_a_french_translation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-extract every marked string; none may be new (untranslated) or fuzzy in French."""
    require_service(_gettext_tools_available(), "GNU gettext (xgettext, msgmerge) is not installed")
    _copy_sources(tmp_path)
    monkeypatch.chdir(tmp_path)  # makemessages reads the sources under the current directory
    with override_settings(LOCALE_PATHS=[tmp_path / "locale"]):
        call_command("makemessages", locale=["fr"], ignore_patterns=IGNORED, verbosity=0)

    catalogue = polib.pofile(str(tmp_path / "locale" / "fr" / "LC_MESSAGES" / "django.po"))
    live = [e for e in catalogue if not e.obsolete]
    untranslated = [e.msgid for e in live if not e.translated() and not e.fuzzy]
    fuzzy = [e.msgid for e in live if e.fuzzy]
    assert len(live) > 50, "makemessages found almost nothing: is the copy complete?"
    assert not untranslated, "Untranslated in locale/fr (run makemessages, translate):\n" + (
        "\n".join(untranslated)
    )
    assert not fuzzy, "Fuzzy in locale/fr (check the translation, drop the flag):\n" + (
        "\n".join(fuzzy)
    )
    assert not catalogue.metadata_is_fuzzy, "the catalogue header is marked fuzzy"


def test_committed_mo_matches_po(tmp_path: Path) -> None:
    """The .mo in git is the compiled .po: same entries, same translations, same plural rule."""
    assert MO.exists(), "locale/fr/LC_MESSAGES/django.mo is missing: run compilemessages"
    source = polib.pofile(str(PO))
    compiled_now = tmp_path / "django.mo"
    source.save_as_mofile(str(compiled_now))

    committed = polib.mofile(str(MO))
    expected = polib.mofile(str(compiled_now))
    expected_entries, committed_entries = _catalogue(expected), _catalogue(committed)
    stale = sorted(set(expected_entries.items()) ^ set(committed_entries.items()))
    assert not stale, "django.mo is out of date (run compilemessages):\n" + "\n".join(
        sorted({repr(item[1][1]) for item in stale})
    )
    assert committed.metadata.get("Plural-Forms") == source.metadata.get("Plural-Forms")
    assert len(committed_entries) == len(_catalogue(list(source)))


def test_allauth_strings_we_show_read_in_our_french() -> None:
    """Our catalogue overrides allauth's European French for the strings on our pages."""
    with translation.override("fr"):
        untranslated = [s for s in ALLAUTH_STRINGS if translation.gettext(s) == s]
        password_mismatch = translation.gettext("You must type the same password each time.")
    assert not untranslated
    assert password_mismatch == "Vous devez saisir le même mot de passe les deux fois."


def test_sign_in_page_in_french_from_the_language_cookie(db: None) -> None:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"

    response = client.get("/accounts/login/")

    body = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="fr">' in body
    assert "Connexion à Cuspid" in body
    assert "Mot de passe" in body
    assert "Sign in to Cuspid" not in body


def test_members_page_in_french_for_a_french_user(
    clinic: Organization,
    member_of: Callable[[Organization, Role], Membership],
    signed_in: Callable[[User], Client],
) -> None:
    """The user's saved language wins over the browser's; dates follow the French format."""
    admin = member_of(clinic, Role.ORG_ADMIN)
    User.objects.filter(pk=admin.user_id).update(language="fr")
    Membership.objects.filter(pk=admin.pk).update(
        created_at=dt.datetime(2024, 2, 3, 15, 0, tzinfo=dt.UTC)
    )
    client = signed_in(admin.user)

    response = client.get("/members/", HTTP_ACCEPT_LANGUAGE="en")

    body = response.content.decode()
    assert response.status_code == 200
    assert "Membres" in body
    assert "Responsable de l\u2019organisation" in body  # typographic apostrophe
    assert "Membre depuis" in body
    assert "3 février 2024" in body
    assert "Feb. 3, 2024" not in body
