"""Password strength: refuse the guessable ones before they are hashed and stored."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from zxcvbn import zxcvbn

from forest.errors import ValidationFailed

# zxcvbn's matching grows faster than linearly with the length (on the shared test machine 32 characters
# take ~40 ms, 72 ~250 ms, 128 ~900 ms), so only the first 64 characters are scored: a longer password is
# judged by its start, and one that starts with "passwordpassword…" is refused like the short one.
SCORED_CHARS = 64
# Scoring is pure Python: a few threads, so a burst of registrations queues here and never on the event loop.
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="forest-password")


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(f"The password is too weak: {message}",
                            errors=[{"loc": ["body", "password"], "field": "password", "message": message,
                                     "type": "weak_password"}])


def _score(password: str, user_inputs: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = zxcvbn(password[:SCORED_CHARS], user_inputs=user_inputs)
    return result


async def check_strength(password: str, *, email: str, min_score: int) -> None:
    """Raise a 422 `validation_error` for a password that is one repeated character or scores below `min_score`.

    The score is zxcvbn's 0 (too guessable) to 4 (very unguessable), from its dictionaries of common passwords,
    names and words, keyboard patterns, dates and repeats; the account's email counts as a known word.
    `min_score` 0 keeps only the repeated-character check.
    """
    if len(set(password)) <= 1:
        raise _refuse("It is one character repeated.")
    if min_score <= 0:
        return
    local, _, domain = email.partition("@")
    result = await asyncio.get_running_loop().run_in_executor(_pool, _score, password, [email, local, domain])
    if result["score"] >= min_score:
        return
    feedback = result.get("feedback") or {}
    reasons = [feedback.get("warning") or "It is easy to guess.", *feedback.get("suggestions", [])]
    raise _refuse(" ".join(reason.strip() for reason in reasons if reason))
