"""Serving a run over HTTP: a FastAPI app with a web page, dynamic batching and input validation.

    from striate.serve import Settings, create_app, serve
    serve(Settings(run="runs/lenet5-..."), port=8000)      # what `striate serve RUN` does

`create_app(Settings(...))` gives the ASGI app itself, to run under any ASGI server or test in-process.
"""

from striate.serve.app import Service, Settings, create_app, serve

__all__ = ["Service", "Settings", "create_app", "serve"]
