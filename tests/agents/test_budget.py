"""Budget limits, spend arithmetic, and which limit is reached or would be broken."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agents.budget import BudgetExhausted, BudgetLimits, Spend, exhausted, would_exceed

counts = st.integers(min_value=0, max_value=10**9)
amounts = st.floats(min_value=0, max_value=1e6, allow_nan=False)
spends = st.builds(Spend, iterations=counts, input_tokens=counts, output_tokens=counts,
                   usd=amounts, seconds=amounts, model_calls=counts, failed_calls=counts)


def test_tokens_are_input_plus_output() -> None:
    assert Spend(input_tokens=7, output_tokens=5).tokens == 12


@given(spends, spends)
def test_add_sums_every_field_and_leaves_both_operands_alone(a: Spend, b: Spend) -> None:
    before = (a.model_copy(), b.model_copy())
    total = a.add(b)
    for name in Spend.model_fields:
        assert getattr(total, name) == getattr(a, name) + getattr(b, name)
    assert (a, b) == before and total is not a


def test_spend_round_trips_through_its_json_form_like_a_checkpoint() -> None:
    spend = Spend(iterations=2, input_tokens=10, output_tokens=3, usd=0.5, seconds=9.5)
    assert Spend.model_validate_json(spend.model_dump_json()) == spend
    assert Spend(**spend.model_dump()) == spend


def test_limits_reject_unknown_fields_and_negative_values() -> None:
    with pytest.raises(ValidationError):
        BudgetLimits(max_dollars=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        BudgetLimits(max_tokens=-1)


def test_no_limits_are_never_exhausted() -> None:
    huge = Spend(iterations=10**6, input_tokens=10**9, usd=1e6, seconds=1e7)
    assert exhausted(BudgetLimits(), huge) is None
    assert would_exceed(BudgetLimits(), huge, 10**9, 1e6) is None


@pytest.mark.parametrize("limits, spend, kind", [
    (BudgetLimits(max_iterations=3), Spend(iterations=3), "max_iterations"),
    (BudgetLimits(max_tokens=100), Spend(input_tokens=60, output_tokens=40), "max_tokens"),
    (BudgetLimits(max_usd=1.0), Spend(usd=1.0), "max_usd"),
    (BudgetLimits(max_minutes=2), Spend(seconds=120), "max_minutes"),
])
def test_a_limit_is_reached_when_spent_equals_it(limits: BudgetLimits, spend: Spend,
                                                 kind: str) -> None:
    assert exhausted(limits, spend) == kind


def test_just_under_every_limit_is_not_exhausted() -> None:
    limits = BudgetLimits(max_iterations=3, max_tokens=100, max_usd=1.0, max_minutes=2)
    assert exhausted(limits, Spend(iterations=2, input_tokens=99, usd=0.99, seconds=119)) is None


def test_would_exceed_allows_landing_exactly_on_the_token_or_dollar_limit() -> None:
    limits = BudgetLimits(max_tokens=100, max_usd=1.0)
    spend = Spend(input_tokens=40, usd=0.25)
    assert would_exceed(limits, spend, 60, 0.75) is None
    assert would_exceed(limits, spend, 61, 0.0) == "max_tokens"
    assert would_exceed(limits, spend, 0, 0.76) == "max_usd"


def test_would_exceed_refuses_every_call_once_wall_time_is_used_up() -> None:
    limits = BudgetLimits(max_minutes=1)
    assert would_exceed(limits, Spend(seconds=59), 0, 0.0) is None
    assert would_exceed(limits, Spend(seconds=60), 0, 0.0) == "max_minutes"


def test_would_exceed_leaves_the_iteration_limit_to_the_graph() -> None:
    assert would_exceed(BudgetLimits(max_iterations=1), Spend(iterations=1), 10, 0.1) is None


def test_budget_exhausted_carries_its_kind() -> None:
    error = BudgetExhausted("max_usd", "coder call estimated at $0.20")
    assert error.limit == "max_usd" and "max_usd" in str(error) and "$0.20" in str(error)
