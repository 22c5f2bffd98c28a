"""Annotation mimic's rows in the report: the emotion comparison (paper and official configs) and Table 4."""
from __future__ import annotations

from ...tables import Row, Section


def comparison(task: str, protocol: str | None = None) -> tuple[Row, ...]:
    """Annotation mimic's rows of the comparison table of ``task`` (3-class emotion, LOSO)."""
    if task != "emotion":
        return ()
    return (Row("annotation_mimic", "db+all", overrides={"classes": "3class"}, label="annotation mimic (paper config)"),
            Row("annotation_mimic", "db+all", overrides={"classes": "3class", "config": "official"},
                label="annotation mimic (official config)"))


SECTIONS: tuple[Section, ...] = (
    Section("ablation-annotation_mimic", "Annotation mimic Table 4 (LOSO, 3 classes here; the paper's Table 4 is "
            "5-class only)", "emotion", tuple(Row("annotation_mimic", v, overrides={"classes": "3class"}, label=v)
                                             for v in ("sb", "sb+au", "db", "db+au", "db+awm", "db+all-rr", "db+all")),
            "db+all", "all", classes=3),
)
