"""`nasforge layers [--json]`: what a space may contain, as the registries hold it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from nasforge.searchspace.families import FAMILIES
from nasforge.searchspace.families.cell_ops import CELL_OPS
from nasforge.searchspace.layers import ACTIVATIONS, NORMS
from nasforge.ui.cli import app


def test_layers_json_lists_every_registry() -> None:
    result = CliRunner().invoke(app, ["layers", "--json"])
    assert result.exit_code == 0, result.output
    catalog = json.loads(result.stdout)
    assert catalog["activations"] == list(ACTIVATIONS.names())
    assert catalog["norms"] == list(NORMS.names())
    assert catalog["quantization"] == [32, 16, 8, 4, 2, 1]
    assert catalog["families"] == list(FAMILIES.names()) == ["cell", "cnn", "mbconv", "mlp",
                                                             "resnet"]
    assert catalog["cell_ops"] == list(CELL_OPS.names())
    assert len(catalog["activations"]) >= 16 and len(catalog["norms"]) >= 8
    assert set(catalog["norm_activations"]) == {"evonorm_b0", "evonorm_s0"}
    details = catalog["details"]
    assert details["norms"]["instance"]["layouts"] == ["(N, C, L)", "(N, C, H, W)"]
    assert details["norms"]["batch"]["layouts"] == ["(N, C)", "(N, C, L)", "(N, C, H, W)"]
    for kind in ("activations", "norms", "families", "cell_ops"):
        missing = [name for name, entry in details[kind].items() if not entry["summary"]]
        assert not missing, f"{kind} without a one-line docstring: {missing}"


def test_layers_table_names_every_choice() -> None:
    result = CliRunner().invoke(app, ["layers"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in (*ACTIVATIONS.names(), *NORMS.names(), *CELL_OPS.names()):
        assert name in result.stdout
    assert "bit widths" in result.stdout


def test_summaries_are_whole_sentences_without_markup() -> None:
    details = json.loads(CliRunner().invoke(app, ["layers", "--json"]).stdout)["details"]
    for kind, entries in details.items():
        for name, entry in entries.items():
            summary = entry["summary"]
            assert summary.endswith("."), f"{kind} {name}: {summary!r} ends mid-sentence"
            assert "`" not in summary, f"{kind} {name}: {summary!r}"
    assert details["families"]["cnn"]["summary"] == (
        "cnn.stages stages of cnn.convs_per_stage convolutions with cnn.channels (or "
        "cnn.channels.i per stage) output channels and cnn.kernel kernels.")
    assert details["norms"]["group"]["summary"].endswith("(one value a group would make the "
                                                         "output a constant).")


def test_layers_table_titles_keep_their_brackets() -> None:
    result = CliRunner().invoke(app, ["layers"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for key in ("activations", "norms", "families", "cell_ops"):
        assert f"[space] {key}" in result.stdout
    assert "``" not in result.stdout
