"""`nasforge show --json` written piece by piece: byte for byte
``json.dumps(search_report(...), indent=2)``, with the trials read and written a chunk at a
time (`Store.trial_table`) instead of held all at once.

``json.dumps(..., indent=2)`` runs json's pure-Python encoder; `indented_json` writes the same
text through json's C encoder instead, one call per mapping of scalars, by giving it the
indented item separator. JSON strings hold no raw newline, so re-indenting text is exact.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
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


def trials_json(table: TrialTable) -> Iterator[str]:
    """``indented_json(trial_payload(t), 2)`` of each trial t of `table`, from its columns (no
    record, no payload dict): the scalars, the architecture and the metrics each one call of
    the C encoder."""
    metrics: dict[int, dict[str, float | None]] = {}
    for number, name, value in zip(table.metric_number, table.metric_name, table.metric_value,
                                   strict=True):
        metrics.setdefault(number, {})[name] = value if math.isfinite(value) else None
    scalars, flat = _flat_encoder(3).encode, _flat_encoder(4).encode
    for i, number in enumerate(table.number):
        arch = json.loads(table.arch_json[i])
        values = metrics.get(number)
        head = scalars({"number": number, "state": table.state[i],
                        "arch_id": table.arch_id[i]})
        tail = scalars({"error": table.error[i], "worker": table.worker[i],
                        "started_at": _iso(table.started_at[i]),
                        "finished_at": _iso(table.finished_at[i])})
        yield (f"{{\n      {head[1:-1]},\n      \"arch\": "
               f"{_nested(flat(arch)) if arch else '{}'},\n      \"metrics\": "
               f"{_nested(flat(values)) if values else '{}'},\n      {tail[1:-1]}\n    }}")


def _nested(text: str) -> str:
    """A flat mapping's C-encoded text (`_flat_encoder(4)`) as a value 3 levels deep."""
    return "{\n        " + text[1:-1] + "\n      }"


def _iso(text: str | None) -> str | None:
    """``datetime.isoformat()`` of a UTC `trial_table.TIME_FORMAT` time
    (``"2026-01-31 12:00:00.250000"`` -> ``"2026-01-31T12:00:00.250000+00:00"``; whole
    seconds without the fraction, as isoformat writes them)."""
    if text is None:
        return None
    fraction = text[19:]
    return f"{text[:10]}T{text[11:19]}{'' if fraction == '.000000' else fraction}+00:00"
