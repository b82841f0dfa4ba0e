"""``python -m batchspec.fakeapi --port N``: run the fake server in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from .config import FakeConfig
from .server import serve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m batchspec.fakeapi", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 lets the OS pick a free port")
    parser.add_argument("--config", type=Path, help="YAML file with FakeConfig fields")
    parser.add_argument("--processing-seconds", type=float, help="how long a batch takes")
    parser.add_argument("--ledger", type=Path, help="append the ledger to this JSONL file")
    parser.add_argument("--api-key", help="accept only this API key")
    parser.add_argument("--seed", type=int, help="seed for fault injection")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> FakeConfig:
    data = yaml.safe_load(args.config.read_text()) if args.config else {}
    config = FakeConfig.from_dict(data or {})
    if args.processing_seconds is not None:
        config.processing_seconds = args.processing_seconds
    if args.ledger is not None:
        config.ledger_path = args.ledger
    if args.api_key is not None:
        config.required_api_key = args.api_key
    if args.seed is not None:
        config.faults.seed = args.seed
    config.verbose = config.verbose or args.verbose
    return config


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    serve(args.host, args.port, config_from_args(args))


if __name__ == "__main__":
    main()
