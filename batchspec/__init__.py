"""batchspec: declarative LLM batch jobs."""

__version__ = "0.1.0"
