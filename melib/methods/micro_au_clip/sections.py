"""Micro-AU CLIP's rows in the report: AU detection, label-free emotion (Eq. 13) and Tables II-VIII."""
from __future__ import annotations

from ...tables import Row, Section


def comparison(task: str, protocol: str | None = None) -> tuple[Row, ...]:
    """Micro-AU CLIP's rows of the comparison table of ``task``: AU detection under ``protocol``, or its
    label-free emotion recognition (two label tables)."""
    if task == "au":
        return (Row("micro_au_clip", "full", protocol, label=f"Micro-AU CLIP, {protocol}"),)
    return (Row("micro_au_clip", "full", label="Micro-AU CLIP label-free (Eq. 13)", label_free=True),
            Row("micro_au_clip", "full", label="Micro-AU CLIP label-free, FACS prototypes' texts", label_free=True,
                label_table="emfacs"))


SECTIONS: tuple[Section, ...] = (
    Section("ablation-micro_au_clip", "Micro-AU CLIP Tables II, III, VI, VII, VIII (LOSO; MiAUCL's softmax reading)",
            "au", tuple(Row("micro_au_clip", v, label=v) for v in (
                "full", "lsi_only", "gsd_only", "add_mlp", "cat_mlp", "text_fixed", "meanpool", "maxpool", "no_cl",
                "global_origcl", "local_origcl")), "full", "all"),
    Section("ablation-micro_au_clip-miaucl", "Micro-AU CLIP Table VIII: MiAUCL's two readings (LOSO)", "au", tuple(
        Row("micro_au_clip", v, label=label, reference=ref, paper_table="Table VIII") for v, label, ref in (
            ("full", "full (softmax reading)", None), ("miaucl_bce", "miaucl_bce", "full"),
            ("local_origcl_bce", "local_origcl_bce", "miaucl_bce"))), "full", "all"),
)
