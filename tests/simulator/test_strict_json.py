"""Strict JSON: non-finite numbers become null with a note; the output passes a strict parser."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.strict_json import INF_NOTE, NAN_NOTE, NEG_INF_NOTE, dumps, strict


def strict_loads(text: str) -> Any:
    """Parse as a strict parser (JavaScript's JSON.parse) would: NaN/Infinity are errors."""

    def reject(word: str) -> Any:
        raise ValueError(f"not JSON: {word}")

    return json.loads(text, parse_constant=reject)


def test_the_strict_parser_rejects_what_python_json_writes_by_default() -> None:
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="not JSON"):
            strict_loads(json.dumps({"x": value}))
    assert strict_loads('{"x": 1.5}') == {"x": 1.5}


def test_non_finite_values_become_null_with_a_sibling_note() -> None:
    out = strict({"adjusted_latency": math.nan, "throughput": math.inf, "low": -math.inf,
                  "count": 3, "mean": 2.5, "name": "q"})
    assert out == {"adjusted_latency": None, "adjusted_latency_note": NAN_NOTE,
                   "throughput": None, "throughput_note": INF_NOTE,
                   "low": None, "low_note": NEG_INF_NOTE, "count": 3, "mean": 2.5, "name": "q"}
    assert list(out)[:2] == ["adjusted_latency", "adjusted_latency_note"]  # note beside value


def test_a_caller_says_why_for_its_own_keys() -> None:
    out = strict({"adjusted_latency": math.nan, "other": math.nan},
                 notes={"adjusted_latency": "no pipeline completed"})
    assert out["adjusted_latency_note"] == "no pipeline completed"
    assert out["other_note"] == NAN_NOTE


def test_nested_values_lists_and_tuples_are_cleaned() -> None:
    out = strict({"a": {"b": [1.0, math.nan, 3.0, math.inf]}, "t": (math.nan,),
                  "rows": [{"x": math.nan}]})
    assert out["a"] == {"b": [1.0, None, 3.0, None], "b_note": f"items 1, 3: {NAN_NOTE}"}
    assert out["t"] == [None] and out["t_note"] == f"item 0: {NAN_NOTE}"
    assert out["rows"] == [{"x": None, "x_note": NAN_NOTE}]
    assert strict([math.nan, 1]) == [None, 1]  # a bare list has no key to note it on
    assert strict(math.inf) is None


def test_an_existing_note_is_kept_and_the_reason_appended() -> None:
    out = strict({"score": math.nan, "score_note": "from the transcript"})
    assert out["score_note"] == f"from the transcript; {NAN_NOTE}"


def test_numpy_floats_and_bools_and_ints_are_judged_by_value() -> None:
    out = strict({"a": np.float64("nan"), "b": np.float32("inf"), "c": True, "d": 10**400})
    assert out["a"] is None and out["b"] is None and out["c"] is True and out["d"] == 10**400


def test_the_input_is_not_modified() -> None:
    data: dict[str, Any] = {"x": [math.nan], "y": {"z": math.inf}}
    strict(data)
    assert math.isnan(data["x"][0]) and data["y"]["z"] == math.inf


def test_dumps_parses_with_a_strict_parser_and_passes_keywords_through() -> None:
    text = dumps({"x": math.nan, "when": object()}, indent=1, default=lambda o: "obj")
    assert "\n" in text and "NaN," not in text and ": NaN" not in text
    assert strict_loads(text) == {"x": None, "x_note": NAN_NOTE, "when": "obj"}


def test_dumps_refuses_a_non_finite_number_it_could_not_see() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        dumps({"x": object()}, default=lambda o: math.nan, allow_nan=True)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=4),
    max_leaves=20)


@given(json_values)
def test_any_json_like_value_comes_out_strict_and_finite_values_survive(value: Any) -> None:
    parsed = strict_loads(dumps(value))

    def finite_leaves(v: Any) -> list[Any]:
        if isinstance(v, dict):
            return [x for k, item in v.items() if not str(k).endswith("_note")
                    for x in finite_leaves(item)]
        if isinstance(v, list):
            return [x for item in v for x in finite_leaves(item)]
        return [v] if v is not None else []

    expected = finite_leaves(json.loads(json.dumps(value)))
    expected = [v for v in expected if not (isinstance(v, float) and not math.isfinite(v))]
    assert finite_leaves(parsed) == expected
