"""Codes of the work-unit domain: the unified social credit code and pickup-card codes.

The unified social credit code (统一社会信用代码, GB 32100-2015) has 18 characters from a 31-character
alphabet (digits and capitals without I, O, Z, S, V); the last one is a check character computed from
the first 17 with the weights 3^i mod 31.

Pickup-card codes are 16 random characters (80 bits) from an alphabet without look-alikes, shown once
as four groups; only their SHA-256 is stored. With 80 bits a stolen hash table cannot be searched and a
guess at the counter or online is throttled (``shop.workunits.cards``).
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

CARD_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CARD_LENGTH = 16


def normalise(text: str) -> str:
    """Upper case, half-width, without spaces or dashes (what people type from paper or a phone)."""
    text = unicodedata.normalize("NFKC", text or "")
    return "".join(ch for ch in text.upper() if ch not in " -\t\u3000")


def credit_check_char(first17: str) -> str:
    total = sum(CREDIT_ALPHABET.index(ch) * w for ch, w in zip(first17, CREDIT_WEIGHTS, strict=True))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """Why ``code`` (already normalised) is not a valid unified social credit code, or None."""
    if len(code) != 18:
        return "must be 18 characters"
    bad = sorted({ch for ch in code if ch not in CREDIT_ALPHABET})
    if bad:
        return f"contains characters not used in credit codes: {''.join(bad)}"
    if credit_check_char(code[:17]) != code[17]:
        return "check character does not match (GB 32100-2015)"
    return None


def new_card_code() -> str:
    return "".join(secrets.choice(CARD_ALPHABET) for _ in range(CARD_LENGTH))


def show_card_code(code: str) -> str:
    """``ABCD-EFGH-JKLM-NPQR``: how a code is printed on a card."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def card_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def looks_like_card_code(code: str) -> bool:
    code = normalise(code)
    return len(code) == CARD_LENGTH and all(ch in CARD_ALPHABET for ch in code)
