"""The app's catalogues (reminders_app/locale) cover every message of its templates and
code, and the compiled catalogue Django reads says what the .po says.

Django's makemessages runs over a copy of the app, as a developer adding a message
would run it: it merges every message it finds into the copy of the committed
catalogue, where a new one comes out untranslated and a changed one fuzzy. GNU
gettext's tools do the work, as they do for makemessages and compilemessages; CI
installs them (.ci/run), and without them these tests fail rather than skip."""

import gettext
import os
import re
import shutil
import subprocess
import sys

import pytest
from django.conf import settings

from tests.processes import PROJECT

APP = PROJECT / "reminders_app"
# Every language of the site but English, the language the messages are written in.
TRANSLATED = [code for code, _ in settings.LANGUAGES if code != "en"]


@pytest.fixture(scope="module")
def gettext_tools():
    missing = [
        tool for tool in ("xgettext", "msgmerge", "msgattrib", "msgfmt") if not shutil.which(tool)
    ]
    if missing:
        pytest.fail(f"GNU gettext is missing ({', '.join(missing)}): apt-get install gettext")


def catalogue(root, language: str):
    return root / "locale" / language / "LC_MESSAGES" / "django.po"


@pytest.fixture(scope="module")
def regenerated(gettext_tools, tmp_path_factory):
    """A copy of the app after `makemessages --no-obsolete` for each language."""
    copy = tmp_path_factory.mktemp("catalogues") / "reminders_app"
    shutil.copytree(APP, copy, ignore=shutil.ignore_patterns("__pycache__"))
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    languages = [arg for code in TRANSLATED for arg in ("-l", code)]
    result = subprocess.run(
        [sys.executable, "-m", "django", "makemessages", *languages, "--no-obsolete"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return copy


def msgattrib(po, *flags: str) -> str:
    return subprocess.run(
        ["msgattrib", *flags, str(po)], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_of_the_templates_and_code_is_translated(regenerated, language):
    po = catalogue(regenerated, language)

    untranslated = msgattrib(po, "--untranslated")
    changed = msgattrib(po, "--only-fuzzy")

    assert untranslated == "", f"messages without a {language} translation:\n{untranslated}"
    assert changed == "", f"messages changed since their {language} translation:\n{changed}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_catalogue_is_what_makemessages_makes_of_it(regenerated, language):
    """No message the app no longer has, nor one it has that the file lacks (the
    date it was made and the line numbers aside)."""

    def entries(po):
        text = po.read_text()
        return re.sub(r'^(#: .*|"POT-Creation-Date: .*)\n', "", text, flags=re.M)

    assert entries(catalogue(APP, language)) == entries(catalogue(regenerated, language))


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogue_says_what_the_po_says(gettext_tools, tmp_path, language):
    po = catalogue(APP, language)
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(po)], check=True)

    with compiled.open("rb") as fresh, po.with_suffix(".mo").open("rb") as committed:
        assert gettext.GNUTranslations(committed)._catalog == (
            gettext.GNUTranslations(fresh)._catalog
        )
