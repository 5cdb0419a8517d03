"""A worked nasforge plugin (see docs/extending.md); `plugin` registers its parts."""
