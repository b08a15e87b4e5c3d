"""UI strings (Babel catalogs in ``locales/``), locale-aware formatting and bidi helpers.

Catalogs are compiled from ``.po`` in memory at start, so a fresh clone needs no
build step. Each language falls back string by string along its chain
(``languages.yaml``: e.g. ``ar -> en -> sv``), and finally to the English msgid,
so a half-translated language still shows every screen.
"""

from __future__ import annotations

import gettext as _gettext
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

log = logging.getLogger(__name__)

DOMAIN = "messages"
# Left-to-right isolate / pop directional isolate: keep a number or code intact inside RTL text.
LRI, FSI, PDI = "\u2066", "\u2068", "\u2069"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet."""
    return message


def compile_catalog(po_path: Path) -> _gettext.GNUTranslations:
    """Read a .po file and return translations; untranslated and fuzzy entries are left out."""
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=po_path.parent.parent.name)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


@dataclass(frozen=True)
class Translator:
    """Everything one language needs to render text: strings, formats, direction."""

    code: str
    direction: str
    translations: _gettext.NullTranslations
    locale: Locale

    @property
    def rtl(self) -> bool:
        return self.direction == "rtl"

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def isolate(self, value: str) -> str:
        """Wrap a number, code or link so RTL text cannot reorder its characters."""
        return f"{LRI}{value}{PDI}" if self.rtl and value else value

    def embed(self, value: str) -> str:
        """Wrap a name or phrase from elsewhere (a municipality, a service, an answer) in a
        first-strong isolate, so inside RTL text it keeps its own direction and cannot pull
        the punctuation around it the wrong way."""
        return f"{FSI}{value}{PDI}" if self.rtl and value else value

    def number(self, value: float) -> str:
        return self.isolate(format_decimal(value, locale=self.locale))

    def date(self, value: date, fmt: str = "long") -> str:
        return format_date(value, format=fmt, locale=self.locale)

    def time(self, value: datetime, fmt: str = "short") -> str:
        return self.isolate(format_time(value, format=fmt, locale=self.locale))

    def datetime(self, value: datetime, fmt: str = "medium") -> str:
        return format_datetime(value, format=fmt, locale=self.locale)


def babel_locale(code: str) -> Locale:
    """Babel's locale for a language code, English if CLDR does not know it."""
    try:
        return Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        log.warning("no CLDR locale for %s; formatting numbers and dates as English", code)
        return Locale.parse("en")


class I18n:
    """Loads every catalog once and hands out one Translator per language."""

    def __init__(self, locales_dir: Path) -> None:
        self.locales_dir = locales_dir
        self._catalogs: dict[str, _gettext.GNUTranslations] = {}
        for po in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            self._catalogs[po.parent.parent.name] = compile_catalog(po)
        self._translators: dict[str, Translator] = {}

    @property
    def catalog_languages(self) -> list[str]:
        return sorted(self._catalogs)

    def catalog(self, code: str) -> _gettext.GNUTranslations | None:
        return self._catalogs.get(code)

    def configure(self, code: str, direction: str, fallback: Iterable[str]) -> Translator:
        """Build (once) the translator for ``code`` with its per-string fallback chain."""
        chain: _gettext.NullTranslations = _gettext.NullTranslations()
        for lang in reversed([code, *fallback]):
            catalog = self._catalogs.get(lang)
            if catalog is None:
                continue
            layer = compile_catalog(self.locales_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po")
            layer.add_fallback(chain)
            chain = layer
        translator = Translator(code, direction, chain, babel_locale(code))
        self._translators[code] = translator
        return translator

    def translator(self, code: str) -> Translator:
        return self._translators[code]
