"""SelfME's rows in the report: the emotion comparison (learned motion and TV-L1) and Tables 1, 3 and 4."""
from __future__ import annotations

from ...tables import Row, Section


def comparison(task: str, protocol: str | None = None) -> tuple[Row, ...]:
    """SelfME's rows of the comparison table of ``task`` (3-class emotion, LOSO)."""
    if task != "emotion":
        return ()
    return (Row("selfme", "selfme", label="SelfME (learned motion + SCViT)"),
            Row("selfme", "tvl1", label="SelfME's SCViT on TV-L1 flow"))


SECTIONS: tuple[Section, ...] = (
    Section("ablation-selfme", "SelfME Tables 1, 3 and 4 (LOSO)", "emotion", tuple(
        Row("selfme", v, label=v) for v in ("selfme", "no_sc", "no_bspline", "no_ma", "gamma3", "tvl1", "tvl1_vit")),
            "selfme", "all", classes=3),
    Section("ablation-selfme-table1", "SelfME Table 1's rows with two or three components off (LOSO)", "emotion", tuple(
        Row("selfme", v, label=v) for v in ("selfme", "plain", "bspline_only", "sc_only", "ma_only")),
            "selfme", "all", classes=3),
)
