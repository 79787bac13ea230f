"""One line of an error, for messages that must stay one line.

A leaf module: the data readers, the trainer, the sweep and the command line all quote the
errors they catch, and they quote them the same way.
"""

from __future__ import annotations


def first_line(err: BaseException, *, with_type: bool = False) -> str:
    """The first line of an error's message (its type's name if it has none).

    `with_type` puts the type's name first ("EOFError: Ran out of input"): where any exception
    may arrive (a damaged pickle), the type is half of what went wrong.
    """
    text = str(err).strip()
    if not text:
        return type(err).__name__
    line = text.splitlines()[0]
    return f"{type(err).__name__}: {line}" if with_type else line
