"""Named plug-ins: one registry shape for availability modes and samplers, built-ins registered like users'.

A registry maps a canonical name (case folded by the kind's own rule) to an `Entry`: the factory, its
aliases and whatever the kind records beside it (a mode's default beta and description, a sampler's
aggregation rule). The same rules hold for every kind and every entry: registering a taken name or
alias needs `overwrite=True`; a built-in can be replaced that way but not removed; a new name that
equals another entry's alias takes the alias over; unknown names raise a ValueError listing the choices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Entry:
    """One registered plug-in."""

    name: str
    factory: Callable[..., Any]
    builtin: bool = False
    aliases: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)


class Registry:
    """Named factories of one kind ("availability mode", "sampler")."""

    def __init__(self, kind: str, canonical: Callable[[str], str], hint: str = "") -> None:
        self.kind, self.canonical, self.hint = kind, canonical, hint
        self.entries: dict[str, Entry] = {}

    def names(self) -> tuple[str, ...]:
        """Built-ins first, then user entries, each in registration order."""
        return tuple(self.entries)

    def find(self, name: str) -> Entry | None:
        key = self.canonical(name)
        if key in self.entries:
            return self.entries[key]
        return next((e for e in self.entries.values() if key in e.aliases), None)

    def get(self, name: str) -> Entry:
        entry = self.find(name)
        if entry is None:
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}"
                             + (f" ({self.hint})" if self.hint else ""))
        return entry

    def __contains__(self, name: str) -> bool:
        return self.find(name) is not None

    def register(self, name: str, factory: Callable[..., Any], *, aliases: tuple[str, ...] = (),
                 overwrite: bool = False, **info: Any) -> Entry:
        key = self.canonical(name)
        if not key.isidentifier():
            raise ValueError(f"{self.kind} key must be letters, digits or '_' starting with a letter "
                             f"(no '-'), got {name!r}")
        if not callable(factory):
            raise ValueError(f"the factory of {self.kind} {key!r} must be callable")
        taken = self.find(key)
        if taken is not None and not overwrite:
            what = "a built-in" if taken.builtin else "registered"
            raise ValueError(f"{self.kind} {key!r} already exists ({what}); pass overwrite=True to "
                             "replace it, or choose another name")
        for other in list(self.entries.values()):  # the new key takes over an alias of another entry
            if key in other.aliases and other.name != key:
                self.entries[other.name] = replace(other, aliases=tuple(a for a in other.aliases if a != key))
        old = self.entries.get(key)
        entry = Entry(key, factory, builtin=old is not None and old.builtin,
                      aliases=tuple(self.canonical(a) for a in aliases) or (old.aliases if old else ()),
                      info=info)
        self.entries[key] = entry
        return entry

    def mark_builtin(self) -> tuple[str, ...]:
        """Mark every entry registered so far as built-in (called once by the module that owns the
        kind, after registering its own entries like any user would); returns their names."""
        self.entries = {k: replace(e, builtin=True) for k, e in self.entries.items()}
        return self.names()

    def unregister(self, name: str) -> None:
        key = self.canonical(name)
        entry = self.entries.get(key)
        if entry is None:
            raise ValueError(f"no {self.kind} {key!r} to remove; registered: {', '.join(self.names())}")
        if entry.builtin:
            raise ValueError(f"{key!r} is a built-in {self.kind} and cannot be removed (only overwritten)")
        del self.entries[key]
