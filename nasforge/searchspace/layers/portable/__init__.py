"""Portable layer modules: each imports only torch (and other portable modules), so that
`nasforge export` inlines its whole text into model.py; the exported class is the class
nasforge trained. Keep them free of nasforge imports (a test checks)."""
