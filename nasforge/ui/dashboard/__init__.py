"""The Streamlit dashboard: `app.py` is the script (`nasforge dashboard` runs it), one module
per page, `data.py` the cached reads. Only the Store's read methods are used."""
