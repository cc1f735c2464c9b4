"""Country names as the catalog file spells them, to ISO 3166-1 alpha-2 codes.

pycountry knows the official and common names; the aliases below cover the
short names the Netflix file uses that pycountry spells differently, and the
countries that no longer exist. A title "from West Germany" is licensed where
Germany is today, so historical states map to their successor.
"""

from __future__ import annotations

from functools import lru_cache

import pycountry

_ALIASES: dict[str, str] = {
    "russia": "RU",
    "turkey": "TR",
    "vatican city": "VA",
    "palestine": "PS",
    "east germany": "DE",
    "west germany": "DE",
    "soviet union": "RU",
}


@lru_cache(maxsize=1024)
def to_alpha2(name: str) -> str | None:
    """The alpha-2 code of ``name``, or None when it names no country we know."""
    key = name.strip().casefold()
    if not key:
        return None
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        # lookup() matches codes and official/common names, never fuzzily.
        country = pycountry.countries.lookup(name.strip())
    except LookupError:
        return None
    return str(country.alpha_2)
