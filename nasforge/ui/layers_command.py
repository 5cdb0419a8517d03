"""The body of `nasforge layers` (the CLI wiring is in `nasforge.ui.cli`): what a search space
may contain (`searchspace.catalog.layer_catalog`) and the plugins that added to it, as Rich
tables or, with ``--json``, one JSON object."""

from __future__ import annotations

import json

import typer


def print_layers(as_json: bool) -> None:
    """Print the catalog (Rich only for the tables: ``--json`` never imports it)."""
    from rich.table import Table
    from rich.text import Text

    from nasforge.plugins import report
    from nasforge.searchspace.catalog import layer_catalog
    from nasforge.ui.console import wide_console

    catalog = layer_catalog()
    plugins = [plugin.as_json() for plugin in report().plugins]
    if as_json:
        typer.echo(json.dumps({**catalog, "plugins": plugins}, indent=2))
        return
    console = wide_console()
    details = catalog["details"]
    for kind, key, entries in (("activation", "activations", details["activations"]),
                               ("norm", "norms", details["norms"]),
                               ("family", "families", details["families"]),
                               ("cell op", "cell_ops", details["cell_ops"])):
        table = Table(kind, "what", *(["inputs"] if key == "norms" else []), "from",
                      title=Text(f"[space] {key}"))  # plain text, not markup
        for name, entry in entries.items():
            extra = [", ".join(entry["layouts"])] if key == "norms" else []
            table.add_row(name, entry["summary"], *extra, entry["origin"])
        console.print(table)
    for plugin in plugins:
        state = "loaded" if plugin["ok"] else f"failed to load: {plugin['error']}"
        console.print(Text(f"plugin {plugin['name']} ({plugin['value']}, "
                           f"{plugin['dist']}): {state}"))
    console.print(f"[bold]bit widths[/] (weight_bits, act_bits): "
                  f"{', '.join(map(str, catalog['quantization']))}  "
                  f"(32 float, 16 bfloat16, 1 binary); quant_step: "
                  f"{', '.join(catalog['quant_steps'])}; norm-activation layers (they "
                  f"replace the activation): {', '.join(catalog['norm_activations'])}")
