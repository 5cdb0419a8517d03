"""`nasforge show --json` written piece by piece: byte for byte
``json.dumps(search_report(...), indent=2)``, with the trials read and written a chunk at a
time (`Store.trial_table`) instead of held all at once.

``json.dumps(..., indent=2)`` runs json's pure-Python encoder; `indented_json` writes the same
text through json's C encoder instead, one call per mapping of scalars, by giving it the
indented item separator. JSON strings hold no raw newline, so re-indenting text is exact.
A page of trials (`trials_json`) costs two such calls for all its mappings, and its
architectures are re-spaced from their stored canonical JSON where that is exact.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache

from nasforge.store.trial_table import TrialTable

_CONTAINERS = (dict, list, tuple)
#: the diagnostics entry the proxy pre-filter's pools are reported under (`prefilter_pools`)
PREFILTER = "prefilter"


@lru_cache(maxsize=32)
def _flat_encoder(depth: int) -> json.JSONEncoder:
    """Encodes a dict of scalars as its items appear `depth` levels deep, minus the braces'
    own lines (the C encoder: no `indent`, the newline and padding in the separator)."""
    return json.JSONEncoder(separators=(",\n" + "  " * depth, ": "))


def indented_json(value: object, depth: int = 0) -> str:
    """``json.dumps(value, indent=2)`` as it reads `depth` levels deep (every line after the
    first indented by 2 * depth spaces): mappings with string keys through the C encoder,
    a run of scalar items per call; anything else through ``json.dumps``."""
    if type(value) is not dict or not value or not all(type(k) is str for k in value):
        return json.dumps(value, indent=2).replace("\n", "\n" + "  " * depth)
    pad = "\n" + "  " * (depth + 1)
    encoder = _flat_encoder(depth + 1)
    parts: list[str] = []
    scalars: dict[str, object] = {}
    for key, item in value.items():
        if isinstance(item, _CONTAINERS):
            if scalars:
                parts.append(encoder.encode(scalars)[1:-1])
                scalars = {}
            parts.append(f"{json.dumps(key)}: {indented_json(item, depth + 1)}")
        else:
            scalars[key] = item
    if scalars:
        parts.append(encoder.encode(scalars)[1:-1])
    return "{" + pad + ("," + pad).join(parts) + "\n" + "  " * depth + "}"


def report_chunks(report: Mapping[str, object], tables: Iterator[TrialTable],
                  pools: Iterable[list[dict[str, object]]] = ()) -> Iterator[str]:
    """``json.dumps(report, indent=2)`` with ``report["trials"]`` the payloads
    (`report.trial_payload`) of the trials in `tables`, a piece per table, and the pages of
    `pools` (the pre-filter's, if any) as ``report["diagnostics"]["prefilter"]["pools"]``,
    a piece per page."""
    yield "{\n"
    for i, (key, value) in enumerate(report.items()):
        yield (",\n" if i else "") + f"  {json.dumps(key)}: "
        if key == "diagnostics":
            assert isinstance(value, Mapping)
            yield from diagnostics_chunks(value, pools)
            continue
        if key != "trials":
            yield indented_json(value, 1)
            continue
        written = False
        for table in tables:
            if len(table):
                yield ("," if written else "[") + ",".join(
                    "\n    " + text for text in trials_json(table))
                written = True
        yield "\n  ]" if written else "[]"
    yield "\n}"


def diagnostics_chunks(diagnostics: Mapping[str, object],
                       pools: Iterable[list[dict[str, object]]]) -> Iterator[str]:
    """``indented_json(diagnostics, 1)`` with the pools of the pages of `pools` under
    ``diagnostics["prefilter"]["pools"]`` (the entry's last key), a piece per page; without
    pools, `diagnostics` as it is."""
    written = False
    rest = {k: v for k, v in diagnostics.items() if k != PREFILTER}
    for page in pools:
        for pool in page:
            if not written:
                head = indented_json(rest, 1)[:-4] + ",\n" if rest else "{\n"
                yield head + f'    "{PREFILTER}": {{\n      "pools": ['
            yield ("," if written else "") + "\n        " + indented_json(pool, 4)
            written = True
    yield "\n      ]\n    }\n  }" if written else indented_json(diagnostics, 1)


def trials_json(table: TrialTable) -> list[str]:
    """``indented_json(trial_payload(t), 2)`` of each trial t of `table`, from its columns (no
    record, no payload dict per trial): the architectures re-spaced as stored
    (`_arch_inners`), the other mappings of every trial encoded by two calls of the C encoder
    (`_encoded_inners`)."""
    count = len(table)
    metrics: list[dict[str, float | None]] = [{} for _ in range(count)]
    at = {number: i for i, number in enumerate(table.number)}
    for number, name, value in zip(table.metric_number, table.metric_name, table.metric_value,
                                   strict=True):
        if (i := at.get(number)) is not None:
            metrics[i][name] = value if math.isfinite(value) else None
    scalars: list[Mapping[str, object]] = []
    for number, state, arch_id, error, worker, started, finished in zip(
            table.number, table.state, table.arch_id, table.error, table.worker,
            _iso_all(table.started_at), _iso_all(table.finished_at), strict=True):
        scalars += ({"number": number, "state": state, "arch_id": arch_id},
                    {"error": error, "worker": worker, "started_at": started,
                     "finished_at": finished})
    flat = iter(_encoded_inners(scalars, 3))
    return [f"{{\n      {head},\n      \"arch\": {_braced(arch)},\n      \"metrics\": "
            f"{_braced(values)},\n      {tail}\n    }}"
            for head, tail, arch, values in zip(flat, flat, _arch_inners(table.arch_json),
                                                _encoded_inners(metrics, 4), strict=True)]


def _arch_inners(texts: Sequence[str]) -> list[str]:
    """The text between the braces of each architecture (canonical JSON, `Architecture.json`)
    as ``indented_json(json.loads(text), 3)`` writes it. Canonical JSON is compact, so where
    no string holds a comma, a colon or an escape (and nothing is nested) the separators are
    re-spaced in place, the numbers kept as written; otherwise the page is decoded and
    encoded again."""
    if not texts:
        return []
    joined = "\x00".join(texts)  # a raw control character is never in JSON text
    if "\\" not in joined:  # every quote then opens or closes a string
        parts = joined.split('"')
        inside, outside = "".join(parts[1::2]), "".join(parts[0::2])
        if ("," not in inside and ":" not in inside and outside.count("{") == len(texts)
                and not any(c in outside for c in " \t\r\n[")):
            spaced = joined.replace(",", ",\n" + "  " * 4).replace(":", ": ")
            return [text[1:-1] for text in spaced.split("\x00")]
    return _encoded_inners(json.loads("[" + ",".join(texts) + "]"), 4)


def _encoded_inners(mappings: Sequence[Mapping[str, object]], depth: int) -> list[str]:
    """The text between the braces of ``indented_json(m, depth - 1)`` for each mapping of
    scalars in `mappings` (empty for an empty mapping), from one call of the C encoder.
    The list's own separator is the mappings' item separator followed by a brace: a
    mapping's items are followed by a key's quote instead, and no JSON string holds a raw
    newline, so the split is exact."""
    if not mappings:
        return []
    separator = ",\n" + "  " * depth
    text = _flat_encoder(depth).encode(list(mappings))
    return text[2:-2].split("}" + separator + "{")


def _braced(inner: str) -> str:
    """A mapping 3 levels deep from its items' text (`_encoded_inners`; "" when empty)."""
    return "{\n        " + inner + "\n      }" if inner else "{}"


def _iso(text: str | None) -> str | None:
    """``datetime.isoformat()`` of a UTC `trial_table.TIME_FORMAT` time
    (``"2026-01-31 12:00:00.250000"`` -> ``"2026-01-31T12:00:00.250000+00:00"``; whole
    seconds without the fraction, as isoformat writes them)."""
    return _iso_all([text])[0]


def _iso_all(texts: Iterable[str | None]) -> list[str | None]:
    """`_iso` of each of `texts` (one comprehension: a page's times at once)."""
    return [None if t is None else
            f"{t[:10]}T{t[11:19]}{'' if t[19:] == '.000000' else t[19:]}+00:00" for t in texts]
