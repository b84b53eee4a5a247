"""The ``stackml`` command line: a thin shell that parses, calls the SDK or store, and prints.

Heavy libraries (torch, scikit-learn, FastAPI, uvicorn, SQLAlchemy) are imported inside the
commands that need them, so ``stackml --help`` starts instantly.
"""
