"""What a new password must not be (NIST SP 800-63B, "memorized secret verifiers").

No composition rules (no "one digit, one symbol"): length (8 to 128, the request schema) and
these checks, which are what the guideline asks for:

- not the account's email, nor containing it or its local part (context-specific words);
- not a commonly used or easily guessed password. Guessability is estimated by zxcvbn
  (Dropbox's estimator, pinned on PyPI), which knows the 30,000 most common passwords of
  leaked corpora, English words, names, keyboard walks, sequences, repeats, dates and l33t
  spellings of all of those, and the words given as context (the email, the name, the
  service's name). A password it rates below PASSWORD_MIN_SCORE (0-4; 2 by default: more than
  10^6 guesses, out of reach of a throttled online attack) is refused.

Cost: zxcvbn is pure Python; on a usual password it takes 1 to 4 ms, but some inputs cost
more with their length (a string of l33t symbols: ~65 ms at 32 characters, ~125 ms at 64,
measured on this project's 2-core machine), so only the first SCORED_PREFIX characters are
scored: a longer password whose first 32 characters are guessable is refused as well. It runs
in a worker thread (like argon2, ~45 ms here), after the sign-up throttle, which bounds what one
address can make the service spend on either.
"""

import re
import unicodedata
from dataclasses import dataclass

from anyio import to_thread
from zxcvbn import zxcvbn

from shared.errors import Unprocessable

SCORED_PREFIX = 32
# Words anyone would try first against this service's accounts.
SERVICE_WORDS = ("flightbook", "flight", "booking")
_SEPARATORS = re.compile(r"[\s._+\-]+")


class PasswordTooWeak(Unprocessable):
    """Never carries the password: `detail` and `errors` say why, in general terms."""

    code, title = "PASSWORD_TOO_WEAK", "Password too weak"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""  # why not, for a person (never containing the password)


def _fold(text: str) -> str:
    """Compared without case, compatibility forms or separators ("Asha.Rao" ~ "asharao")."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).casefold())


def _context_words(email: str, name: str) -> list[str]:
    local = email.split("@", 1)[0]
    words = [email, local, *_SEPARATORS.split(local), name, *name.split(), *SERVICE_WORDS]
    return [w for w in dict.fromkeys(w.strip().lower() for w in words) if len(w) >= 3]


def evaluate(password: str, *, email: str, name: str = "", min_score: int = 2) -> Verdict:
    """The verdict on a new password for this account (CPU-bound: call `check` from async)."""
    folded, local = _fold(password), _fold(email.split("@", 1)[0])
    if _fold(email) in folded:
        return Verdict(False, "The password must not contain your email address.")
    if len(local) >= 3 and local in folded:
        return Verdict(False, "The password must not contain the name of your email address.")
    if min_score <= 0:
        return Verdict(True)
    result = zxcvbn(password[:SCORED_PREFIX], user_inputs=_context_words(email, name))
    if result["score"] >= min_score:
        return Verdict(True)
    warning = result["feedback"].get("warning") or "It would be among the first guesses."
    return Verdict(False, f"This password is too easy to guess. {warning}".strip())


async def check(password: str, *, email: str, name: str = "", min_score: int = 2) -> None:
    """`PasswordTooWeak` (422) unless the password may be used for this account."""
    verdict = await to_thread.run_sync(
        lambda: evaluate(password, email=email, name=name, min_score=min_score)
    )
    if not verdict.ok:
        raise PasswordTooWeak(
            verdict.reason,
            errors=[
                {"loc": ["body", "password"], "message": verdict.reason, "type": "password_weak"}
            ],
        )
