"""The Streamlit dashboard: `app.py` is the script (`nasforge dashboard` runs it), one module
per page, `data.py` the cached reads (`trial_cache.py`: a search's trials read incrementally;
`sampling.py`: which trials a chart draws). Only the Store's read methods are used."""
