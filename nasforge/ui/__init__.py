"""How people use nasforge: the command line (and, later, the dashboard)."""
