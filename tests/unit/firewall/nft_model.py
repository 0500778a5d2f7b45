"""A small interpreter of the nftables JSON commands hatoba emits, for unit tests.

It keeps tables as plain data and enforces the kernel rules a transaction can trip over:
deleting a missing element or chain, deleting a chain that still has rules or is the target of
a verdict-map element, adding an element that jumps to a missing chain. `apply` is atomic.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any


class NftError(Exception):
    pass


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@dataclass
class Tables:
    # (family, table) → {"sets": {name: {key: element json}}, "chains": {name: [rule json]}}
    tables: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)

    def apply(self, document: dict[str, list[dict[str, Any]]]) -> None:
        scratch = copy.deepcopy(self.tables)
        for command in document["nftables"]:
            ((verb, body),) = command.items()
            ((kind, obj),) = body.items()
            getattr(self, f"_{verb}_{kind}")(scratch, obj)
        self.tables = scratch

    # --- tables, sets, chains -------------------------------------------------------------

    def _add_table(self, t: Any, obj: dict[str, Any]) -> None:
        t.setdefault((obj["family"], obj["name"]), {"sets": {}, "chains": {}, "decl": {}})

    def _delete_table(self, t: Any, obj: dict[str, Any]) -> None:
        if t.pop((obj["family"], obj["name"]), None) is None:
            raise NftError(f"no table {obj}")

    def _table(self, t: Any, obj: dict[str, Any]) -> dict[str, Any]:
        try:
            return t[obj["family"], obj["table"]]  # type: ignore[no-any-return]
        except KeyError:
            raise NftError(f"no table for {obj}") from None

    def _add_set(self, t: Any, obj: dict[str, Any]) -> None:
        table = self._table(t, obj)
        table["sets"].setdefault(obj["name"], {})
        table["decl"][("set", obj["name"])] = _key(obj)

    _add_map = _add_set

    def _add_chain(self, t: Any, obj: dict[str, Any]) -> None:
        table = self._table(t, obj)
        table["chains"].setdefault(obj["name"], [])
        table["decl"][("chain", obj["name"])] = _key(obj)

    def _flush_chain(self, t: Any, obj: dict[str, Any]) -> None:
        self._chain(t, obj)[:] = []

    def _delete_chain(self, t: Any, obj: dict[str, Any]) -> None:
        table = self._table(t, obj)
        if self._chain(t, obj):
            raise NftError(f"chain {obj['name']} is not empty")
        for elements in table["sets"].values():
            if any(f'"target": "{obj["name"]}"' in _key(e) for e in elements.values()):
                raise NftError(f"chain {obj['name']} is still a jump target")
        del table["chains"][obj["name"]]
        del table["decl"][("chain", obj["name"])]

    def _chain(self, t: Any, obj: dict[str, Any]) -> list[Any]:
        name = obj.get("chain", obj.get("name"))
        try:
            return self._table(t, obj)["chains"][name]  # type: ignore[no-any-return]
        except KeyError:
            raise NftError(f"no chain {name}") from None

    def _add_rule(self, t: Any, obj: dict[str, Any]) -> None:
        self._chain(t, obj).append(_key({"expr": obj["expr"], "comment": obj.get("comment")}))

    # --- elements ---------------------------------------------------------------------------

    def _set(self, t: Any, obj: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._table(t, obj)["sets"][obj["name"]]  # type: ignore[no-any-return]
        except KeyError:
            raise NftError(f"no set {obj['name']}") from None

    def _add_element(self, t: Any, obj: dict[str, Any]) -> None:
        elements = self._set(t, obj)
        table = self._table(t, obj)
        for elem in obj["elem"]:
            val = elem[0] if isinstance(elem, list) else elem
            key = _key(val["elem"]["val"] if isinstance(val, dict) and "elem" in val else val)
            if key in elements and elements[key] != elem:
                raise NftError(f"element {key} exists with other data")
            target = (
                elem[1].get("jump", {}).get("target")
                if isinstance(elem, list) and isinstance(elem[1], dict)
                else None
            )
            if target is not None and target not in table["chains"]:
                raise NftError(f"no chain {target}")
            elements[key] = elem

    def _delete_element(self, t: Any, obj: dict[str, Any]) -> None:
        elements = self._set(t, obj)
        for val in obj["elem"]:
            if elements.pop(_key(val), None) is None:
                raise NftError(f"no element {val}")
