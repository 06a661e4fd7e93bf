"""Status classification and words: never crash on a status nobody has seen."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpstask.errors import ExitCode, UsageError, worst
from kpstask.models import State, classify, describe, validate_task_id


@pytest.mark.parametrize(
    ("status", "state", "operation", "words"),
    [
        ("READY_RESET", State.PENDING, "reset", "Preparing to reset the key pair"),
        ("RUNNING_RESET", State.PENDING, "reset", "Resetting the key pair"),
        ("FAILED_RESET", State.FAILED, "reset", "Reset failed"),
        ("SUCCESS_RESET", State.SUCCEEDED, "reset", "Reset succeeded"),
        ("READY_REPLACE", State.PENDING, "replace", "Preparing to replace the key pair"),
        ("RUNNING_REPLACE", State.PENDING, "replace", "Replacing the key pair"),
        ("FAILED_REPLACE", State.FAILED, "replace", "Replacement failed"),
        ("SUCCESS_REPLACE", State.SUCCEEDED, "replace", "Replacement succeeded"),
        ("READY_BIND", State.PENDING, "bind", "Preparing to bind the key pair"),
        ("RUNNING_BIND", State.PENDING, "bind", "Binding the key pair"),
        ("FAILED_BIND", State.FAILED, "bind", "Binding failed"),
        ("SUCCESS_BIND", State.SUCCEEDED, "bind", "Binding succeeded"),
        ("READY_UNBIND", State.PENDING, "unbind", "Preparing to unbind the key pair"),
        ("RUNNING_UNBIND", State.PENDING, "unbind", "Unbinding the key pair"),
        ("FAILED_UNBIND", State.FAILED, "unbind", "Unbinding failed"),
        ("SUCCESS_UNBIND", State.SUCCEEDED, "unbind", "Unbinding succeeded"),
        ("SUCCESS_ROTATE", State.SUCCEEDED, None, "Succeeded (unknown operation)"),
        ("RUNNING", State.PENDING, None, "In progress (unknown operation)"),
        ("PAUSED_RESET", State.UNKNOWN, "reset", "Unrecognised status"),
        ("success_reset", State.UNKNOWN, None, "Unrecognised status"),
        ("", State.UNKNOWN, None, "Unrecognised status"),
    ],
)
def test_classify_and_describe(status: str, state: State, operation: str | None, words: str) -> None:
    assert classify(status) == (state, operation)
    assert describe(status) == words


@given(st.text())
def test_any_status_is_classified(status: str) -> None:
    state, _ = classify(status)
    assert isinstance(state, State)
    assert describe(status)


@given(st.text(max_size=80))
def test_task_id_validation_never_lets_unsafe_characters_through(value: str) -> None:
    try:
        validated = validate_task_id(value)
    except UsageError as exc:
        assert "\n" not in str(exc)
    else:
        assert 1 <= len(validated) <= 64
        assert set(validated) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def test_worst_follows_the_contract_order() -> None:
    order = [
        ExitCode.USAGE,
        ExitCode.AUTH,
        ExitCode.NETWORK,
        ExitCode.API,
        ExitCode.NOT_FOUND,
        ExitCode.FAILED,
        ExitCode.DEADLINE,
        ExitCode.PENDING,
        ExitCode.OK,
    ]
    for i, code in enumerate(order):
        assert worst(order[i:]) == code
        assert worst(reversed(order[i:])) == code
    assert worst([]) == ExitCode.OK
