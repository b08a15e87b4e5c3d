"""Many teams for the national scale: generated team files in groups (counties).

Used by the national benchmark and by tests/test_teams_at_scale.py. The names look like
Swedish municipalities' (å, ä, ö included); none of the generated facts are real: every
contact is left unconfirmed (``value: null``), so nothing invented is ever shown.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path

import yaml

REPO_CONTENT = Path(__file__).resolve().parents[2] / "content"

# Sweden's counties (län), Swedish and English, as groups.
COUNTIES = (
    ("stockholm", "Stockholms län", "Stockholm County"),
    ("uppsala", "Uppsala län", "Uppsala County"),
    ("sodermanland", "Södermanlands län", "Södermanland County"),
    ("ostergotland", "Östergötlands län", "Östergötland County"),
    ("jonkoping", "Jönköpings län", "Jönköping County"),
    ("kronoberg", "Kronobergs län", "Kronoberg County"),
    ("kalmar", "Kalmar län", "Kalmar County"),
    ("gotland", "Gotlands län", "Gotland County"),
    ("blekinge", "Blekinge län", "Blekinge County"),
    ("skane", "Skåne län", "Skåne County"),
    ("halland", "Hallands län", "Halland County"),
    ("vastra_gotaland", "Västra Götalands län", "Västra Götaland County"),
    ("varmland", "Värmlands län", "Värmland County"),
    ("orebro", "Örebro län", "Örebro County"),
    ("vastmanland", "Västmanlands län", "Västmanland County"),
    ("dalarna", "Dalarnas län", "Dalarna County"),
    ("gavleborg", "Gävleborgs län", "Gävleborg County"),
    ("vasternorrland", "Västernorrlands län", "Västernorrland County"),
    ("jamtland", "Jämtlands län", "Jämtland County"),
    ("vasterbotten", "Västerbottens län", "Västerbotten County"),
    ("norrbotten", "Norrbottens län", "Norrbotten County"),
)
REAL_NAMES = (
    "Göteborg", "Malmö", "Umeå", "Västerås", "Örebro", "Jönköping", "Linköping",
    "Norrköping", "Gävle", "Borås", "Sundsvall", "Växjö", "Halmstad", "Luleå",
    "Trollhättan", "Östersund", "Skellefteå", "Kungsbacka", "Södertälje", "Täby",
    "Håbo", "Älmhult", "Åre", "Öckerö", "Ängelholm", "Hässleholm", "Mölndal",
    "Härnösand", "Köping", "Säffle",
)  # fmt: skip
_FIRST = (
    "Ås", "Äng", "Ö", "Berg", "Sjö", "Väst", "Norr", "Söder", "Ljung", "Mal", "Hög",
    "Björk", "Ek", "Gran", "Lind", "Ström", "Sol", "Hammar",
)  # fmt: skip
_LAST = (
    "by", "sund", "ås", "ö", "köping", "hamn", "älv", "dal", "vik", "torp", "näs",
    "fors", "holm", "berga", "stad", "ryd", "sjö", "åker", "hult", "bro",
)  # fmt: skip
# The website label of the existing team files, in all eight languages.
WEBSITE_LABEL = {
    "sv": "Kommunens webbplats",
    "en": "The municipality's website",
    "ar": "موقع البلدية على الإنترنت",
    "fa": "وب‌سایت کمون",
    "fi": "Kunnan verkkosivusto",
    "tr": "Belediyenin web sitesi",
    "so": "Bogga internetka ee degmada",
    "ti": "ወብሳይት ኮሙን",
}


def municipality_names(count: int) -> list[str]:
    """``count`` distinct names that look like Swedish municipalities' (real ones first)."""
    names = list(REAL_NAMES)
    for first in _FIRST:
        for last in _LAST:
            name = first + (last if first[-1] != last[0] else last[1:])
            name = name[0] + name[1:].lower()
            if len(name) > 2 and team_id(name) not in {team_id(n) for n in names}:
                names.append(name)
    if count > len(names):
        raise ValueError(f"at most {len(names)} generated names, asked for {count}")
    return names[:count]


def _genitive(name: str) -> str:
    """'Göteborg' -> 'Göteborgs' (as in 'Göteborgs kommun'); 'Umeå', 'Borås' unchanged."""
    return name if name[-1].lower() in "aeiouyåäösxz" else name + "s"


def team_id(name: str) -> str:
    """The ASCII id of a name: 'Göteborg' -> 'goteborg'."""
    folded = unicodedata.normalize("NFKD", name.casefold())
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "_", ascii_only).strip("_")[:24]


def write_national_teams(content_dir: Path, count: int = 300, groups: int = 20) -> list[str]:
    """Write ``count`` team files into ``content_dir/teams`` and ``groups`` groups into
    ``content_dir/team_groups.yaml`` (teams spread evenly over them); returns the ids.

    The teams have no screen of their own (they get the default one), a name in Swedish
    and English, languages served, and one unconfirmed contact.
    """
    if not 1 <= groups <= len(COUNTIES):
        raise ValueError(f"groups must be 1-{len(COUNTIES)}")
    teams_dir = content_dir / "teams"
    teams_dir.mkdir(parents=True, exist_ok=True)
    counties = COUNTIES[:groups]
    group_file = content_dir / "team_groups.yaml"
    existing = yaml.safe_load(group_file.read_text(encoding="utf-8")) if group_file.exists() else {}
    group_entries = dict((existing or {}).get("groups") or {})
    for key, sv, en in counties:
        group_entries.setdefault(key, {"name": {"sv": sv, "en": en}})
    group_file.write_text(
        yaml.safe_dump({"groups": group_entries}, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    ids = []
    for i, name in enumerate(municipality_names(count)):
        tid = team_id(name)
        data = {
            "id": tid,
            "name": {"sv": f"{_genitive(name)} kommun", "en": f"{name} Municipality"},
            "group": counties[i % groups][0],
            "languages_served": ["sv"],
            "contacts": [
                {
                    "id": "website",
                    "label": WEBSITE_LABEL,
                    "kind": "web",
                    "value": None,
                    "source": "Generated for a test or benchmark; not a real contact",
                    "verified": False,
                    "review_by": "2027-03-31",
                }
            ],
        }
        (teams_dir / f"{tid}.yaml").write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
        ids.append(tid)
    return ids


def national_content(dest: Path, count: int = 300, groups: int = 20) -> Path:
    """A copy of the repository's content/ (Laholm and Botkyrka kept) plus ``count``
    generated teams in ``groups`` groups, at ``dest``; returns ``dest``."""
    shutil.copytree(REPO_CONTENT, dest)
    write_national_teams(dest, count, groups)
    return dest
