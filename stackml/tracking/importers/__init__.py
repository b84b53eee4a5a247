"""Importers that bring runs from other tracking tools into a stackml store.

:mod:`.mlflow` reads an MLflow tracking store or server through the ``mlflow`` client library
(an optional dependency, imported only when an import runs); :mod:`.mlflow_mapping` holds how
MLflow experiments map onto stackml's, shared with the server's MLflow API.
"""
