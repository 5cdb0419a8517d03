"""Search spaces of other tools converted into nasforge configs (`nasforge import ...`).

Torch-free: a converter reads a file, returns the ``[space.params]`` / ``[space.conditions]``
it maps and says what it could not map; `writer` spells the result as a TOML config.
"""
