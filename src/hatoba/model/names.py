"""Random container names in Docker's style (`adjective_surname`) for `run` without `--name`."""

from __future__ import annotations

import secrets
from collections.abc import Container

_LEFT = (
    "admiring",
    "bold",
    "brave",
    "calm",
    "clever",
    "eager",
    "elegant",
    "festive",
    "focused",
    "gallant",
    "happy",
    "hopeful",
    "jolly",
    "keen",
    "kind",
    "lucid",
    "modest",
    "nifty",
    "pensive",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
    "busy",
)
_RIGHT = (
    "babbage",
    "bohr",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "fermi",
    "gauss",
    "hopper",
    "hypatia",
    "kepler",
    "knuth",
    "lamport",
    "lovelace",
    "meitner",
    "newton",
    "noether",
    "pasteur",
    "ritchie",
    "shannon",
    "tesla",
    "thompson",
    "turing",
    "wozniak",
    "yonath",
    "hamilton",
    "galois",
    "ramanujan",
    "sasaki",
)


def random_name(taken: Container[str]) -> str:
    for _ in range(100):
        name = f"{secrets.choice(_LEFT)}_{secrets.choice(_RIGHT)}"
        if name not in taken:
            return name
    return f"{secrets.choice(_LEFT)}_{secrets.choice(_RIGHT)}{secrets.randbelow(10_000)}"
