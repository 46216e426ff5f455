"""The one NA rule (evals.missing.na_to_none) on hand-built cells: no store, no replay."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shadowpilot.evals.missing import na_to_none


def test_every_missing_marker_is_none() -> None:
    for missing in (None, float("nan"), np.nan, pd.NA, pd.NaT, np.float64("nan")):
        assert na_to_none(missing) is None


def test_values_pass_unchanged_lists_and_dicts_included() -> None:
    for value in (0, 0.0, False, "", "why", [1, None], {"skill": None}, np.int64(3)):
        assert na_to_none(value) is value


def test_cells_read_out_of_a_frame() -> None:
    frame = pd.DataFrame({"why": ["missed", None], "n": [1.0, np.nan], "at": [pd.Timestamp("2026-12-01"), pd.NaT]})
    rows = frame.astype(object).to_dict("records")
    assert [na_to_none(r["why"]) for r in rows] == ["missed", None]
    assert [na_to_none(r["n"]) for r in rows] == [1.0, None]
    assert na_to_none(rows[1]["at"]) is None
