"""Offline token estimates.

Real tokenizers need vocabulary files that are downloaded at run time, which batchspec must not do.
English text averages about four characters per token for both OpenAI's and Anthropic's
tokenizers, so the estimate is ``ceil(chars / 4)`` per text plus a small fixed overhead per
message, the way OpenAI documents chat formatting overhead. The fake API server bills with the
same function, so estimates against it are exact on input; against real providers expect ±15%.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 3  # role and separators around every message
REPLY_PRIMING = 3  # the assistant turn the reply starts in


def text_tokens(text: str) -> int:
    """Estimated tokens in one piece of text."""
    return -(-len(text) // CHARS_PER_TOKEN)


def content_texts(content: Any) -> Iterable[str]:
    """The text pieces of a message ``content``: a string or a list of content blocks."""
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for block in content:
            if isinstance(block, Mapping) and isinstance(block.get("text"), str):
                yield block["text"]


def request_tokens(body: Mapping[str, Any]) -> int:
    """Estimated input tokens of an OpenAI chat or Anthropic messages request body, or of an
    OpenAI embeddings body (its input texts alone)."""
    if "messages" not in body and "input" in body:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return sum(text_tokens(t) for t in inputs if isinstance(t, str))
    total = REPLY_PRIMING
    system = body.get("system")
    if system:
        total += MESSAGE_OVERHEAD + sum(text_tokens(t) for t in content_texts(system))
    for message in body.get("messages") or ():
        if isinstance(message, Mapping):
            texts = content_texts(message.get("content"))
            total += MESSAGE_OVERHEAD + sum(text_tokens(t) for t in texts)
    return total


def output_token_budget(body: Mapping[str, Any]) -> int | None:
    """The most output tokens a request asks for, when it says."""
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(key)
        if isinstance(value, int):
            return value
    return None


def messages_tokens(messages: Iterable[Any], wire: str) -> int:
    """``request_tokens`` of the body built from rendered messages, without building it: for
    Anthropic the system messages form one system prompt, for OpenAI each is a message."""
    total = REPLY_PRIMING
    system = False
    for message in messages:
        if wire == "anthropic" and message.role == "system":
            total += text_tokens(message.content) + (0 if system else MESSAGE_OVERHEAD)
            system = True
        else:
            total += MESSAGE_OVERHEAD + text_tokens(message.content)
    return total
