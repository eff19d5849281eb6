"""Quarry's exceptions. The native module raises these with the engine's messages."""


class QuarryError(Exception):
    """Base of every error Quarry raises: the index, its files or the system
    (missing or locked index, I/O failure, a model or graphs the index lacks, ...)."""


class QuarryValueError(QuarryError, ValueError):
    """A bad argument: wrong shape or dimension, NaN/Inf, k too large, empty batch,
    an unknown option, a malformed filter. Catch it as ``ValueError`` or
    ``QuarryError``."""


class CorruptIndexError(QuarryError):
    """A file of the index failed its checksum or is damaged: rebuild the index or
    restore it from a backup (``quarry.verify`` names every problem)."""
