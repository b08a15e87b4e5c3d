"""UI catalogs, per-string fallback, bidi isolation and locale formatting."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from bot.i18n import LRI, PDI, I18n, Translator

REPO = Path(__file__).resolve().parent.parent
BACK = "Back"
HOME = "🏠 Home"
BACK_AR = "رجوع"

AR_PO = f'''msgid ""
msgstr ""
"Language: ar\\n"
"Content-Type: text/plain; charset=utf-8\\n"

msgid "{BACK}"
msgstr "{BACK_AR}"

msgid "{HOME}"
msgstr ""
'''


@pytest.fixture(scope="module")
def real() -> I18n:
    return I18n(REPO / "locales")


@pytest.fixture
def locales(tmp_path: Path) -> Path:
    """The real sv and en catalogs plus a fake 'ar' that translates only "Back"."""
    for code in ("sv", "en"):
        shutil.copytree(REPO / "locales" / code, tmp_path / code)
    (tmp_path / "ar" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "ar" / "LC_MESSAGES" / "messages.po").write_text(AR_PO, encoding="utf-8")
    return tmp_path


def test_swedish_translator_translates_back(real: I18n) -> None:
    sv = real.configure("sv", "ltr", [])
    assert sv.gettext(BACK) == "Tillbaka"


def test_english_translator_keeps_the_msgid(real: I18n) -> None:
    assert real.configure("en", "ltr", []).gettext(BACK) == BACK


def test_real_catalogs_are_found(real: I18n) -> None:
    assert {"sv", "en"} <= set(real.catalog_languages)


def test_translated_string_comes_from_the_languages_own_catalog(locales: Path) -> None:
    ar = I18n(locales).configure("ar", "rtl", ["en"])
    assert ar.gettext(BACK) == BACK_AR


def test_untranslated_string_falls_back_to_english(locales: Path) -> None:
    ar = I18n(locales).configure("ar", "rtl", ["en"])
    assert ar.gettext(HOME) == HOME


def test_untranslated_string_follows_the_chain_to_the_next_catalog(locales: Path) -> None:
    ar = I18n(locales).configure("ar", "rtl", ["sv"])
    assert ar.gettext(HOME) == "🏠 Start"
    assert ar.gettext(BACK) == BACK_AR


def test_string_unknown_everywhere_is_its_msgid(locales: Path) -> None:
    ar = I18n(locales).configure("ar", "rtl", ["sv", "en"])
    assert ar.gettext("No catalog has this") == "No catalog has this"


def test_language_without_catalog_gets_the_fallbacks_translations(locales: Path) -> None:
    fi = I18n(locales).configure("fi", "ltr", ["sv"])
    assert fi.gettext(BACK) == "Tillbaka"


def test_configured_translator_is_remembered(locales: Path) -> None:
    i18n = I18n(locales)
    ar = i18n.configure("ar", "rtl", ["en"])
    assert i18n.translator("ar") is ar


def test_isolate_wraps_only_in_rtl(real: I18n) -> None:
    rtl = real.configure("ar", "rtl", ["en"])
    ltr = real.configure("sv", "ltr", [])
    assert rtl.isolate("112") == "\u2066112\u2069"
    assert ltr.isolate("112") == "112"


def test_isolate_leaves_empty_text_empty(real: I18n) -> None:
    assert real.configure("ar", "rtl", []).isolate("") == ""


def test_swedish_number_groups_with_non_breaking_space(real: I18n) -> None:
    assert real.configure("sv", "ltr", []).number(1234567) == "1\u00a0234\u00a0567"


def test_english_number_groups_with_comma(real: I18n) -> None:
    assert real.configure("en", "ltr", []).number(1234567) == "1,234,567"


def test_rtl_number_is_isolated(real: I18n) -> None:
    number = real.configure("ar", "rtl", ["en"]).number(30)
    assert number.startswith(LRI) and number.endswith(PDI)


@pytest.mark.parametrize(("code", "expected"), [("sv", "5 mars 2026"), ("en", "March 5, 2026")])
def test_date_is_formatted_per_locale(real: I18n, code: str, expected: str) -> None:
    assert real.configure(code, "ltr", []).date(date(2026, 3, 5)) == expected


def test_unknown_locale_formats_as_english(real: I18n) -> None:
    translator: Translator = real.configure("xx", "ltr", [])
    assert translator.number(1234567) == "1,234,567"
