"""Serve Glassbox warm: load every model and transcribe the Speech lab's first example, then start Streamlit.

`python serve.py [streamlit options]` is `streamlit run app.py [options]` in this same process, so the pages find
what `labs.resources.warm()` loaded in its caches. Until then the port is closed, so a health check
(/_stcore/health) answers only once the server is warm, and no visitor pays for the imports and model loads.
"""
import json
import sys
from pathlib import Path

from streamlit.web import cli

from labs import resources

if __name__ == "__main__":
    print(f"Glassbox warm: {json.dumps(resources.warm())}", file=sys.stderr, flush=True)
    sys.argv = ["streamlit", "run", str(Path(__file__).with_name("app.py")), *sys.argv[1:]]
    sys.exit(cli.main())
