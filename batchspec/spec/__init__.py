"""The job spec: YAML with line numbers, schema validation, semantic checks, typed ``JobSpec``.

Entry points live in ``batchspec.spec.load`` (kept out of this file so that importing the typed
model does not import the loader and its dependencies).
"""
