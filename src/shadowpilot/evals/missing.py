"""The one NA rule for reading a frame's cells into models: pandas' missing markers become None.

A cell of the scoring frame, the steps or the rulings can be None, NaN, NaT or pd.NA depending
on the column's dtype; a model field wants None. Lists and dicts (attribute maps, tool calls)
are values, never missing, so they pass as they are.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import pandas as pd
from pandas.api.types import is_scalar

T = TypeVar("T")


def na_to_none(value: T) -> T | None:
    """None for None, NaN, NaT and pd.NA; anything else (a list, a dict, a string, 0) unchanged."""
    if value is None or not is_scalar(value):
        return value
    # is_scalar has narrowed it at run time; pandas-stubs' isna overloads cannot see that through T
    return None if pd.isna(cast(Any, value)) else value
