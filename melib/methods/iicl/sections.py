"""IICL's rows in the report: the comparison of AU detection and its Table 1 and control sections."""
from __future__ import annotations

from ...tables import Row, Section


def comparison(task: str, protocol: str | None = None) -> tuple[Row, ...]:
    """IICL's rows of the comparison table of ``task`` under ``protocol`` (AU detection only)."""
    if task != "au":
        return ()
    return (Row("iicl", "senet", protocol, label=f"IICL baseline (SENet), {protocol}"),
            Row("iicl", "iicl", protocol, label=f"IICL, {protocol}"))


SECTIONS: tuple[Section, ...] = (
    Section("ablation-iicl", "IICL Table 1 (4-fold, average AU F1)", "au", tuple(
        Row("iicl", v, "kfold", label=v) for v in ("senet", "intracl", "intercl", "iicl")), "senet", "all"),
    Section("controls-iicl", "IICL: what carries the gain (Table 2's RESnet and melib's senet_close control; 4-fold)",
            "au", tuple(Row("iicl", v, "kfold", label=v, reference="senet")
                        for v in ("senet", "resnet", "senet_close", "intracl", "iicl")), "senet", "all"),
)
