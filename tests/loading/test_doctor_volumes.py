"""zoo doctor knows the monai wrapper's extra."""

from __future__ import annotations

import json
from typing import Any


def test_doctor_names_the_monai_extra(run_cli: Any) -> None:
    code, stdout, _ = run_cli("doctor", "radiology/swin_unetr_encoder", "--json")
    (row,) = json.loads(stdout)["models"]
    assert row["extra"] == "monai"
    assert row["extra_installed"] is True
    assert row["weights"] == "none"
    assert row["ready"] is True
    assert code == 0
