"""wait_until: what it returns, what it says when the wait is over, and what it lets through."""

from __future__ import annotations

import asyncio

import pytest

from tocsin.testing import wait_until


async def test_returns_the_first_truthy_answer_of_a_plain_predicate():
    seen: list[int] = []

    def predicate() -> list[int]:
        seen.append(len(seen))
        return seen if len(seen) == 3 else []

    assert await wait_until(predicate, interval=0) == [0, 1, 2]


async def test_an_async_predicate_is_awaited():
    box: list[str] = []

    async def fill() -> None:
        await asyncio.sleep(0)
        box.append("x")

    task = asyncio.create_task(fill())

    async def predicate() -> str | None:
        return box[0] if box else None

    assert await wait_until(predicate) == "x"
    await task


async def test_a_timeout_names_the_lambda_and_its_last_answer():
    requests: list[str] = ["/a"]
    with pytest.raises(AssertionError) as err:
        await wait_until(lambda: len(requests) >= 2, timeout=0.05)
    assert str(err.value) == "waited 0.05s for len(requests) >= 2; last answer: False"


async def test_a_lambda_on_a_line_of_its_own_is_named_too():
    with pytest.raises(AssertionError, match=r"for 1 \+ 1 == 3; "):
        await wait_until(
            lambda: 1 + 1 == 3,
            timeout=0.01,
        )


async def test_a_timeout_names_a_function_by_its_name():
    def nothing_yet() -> None:
        return None

    with pytest.raises(AssertionError, match=r"for .*nothing_yet; last answer: None$"):
        await wait_until(nothing_yet, timeout=0.05)


async def test_a_message_says_what_was_awaited_and_a_callable_one_is_asked_at_the_end():
    state = {"missing": ["a", "b"]}
    with pytest.raises(AssertionError, match=r"for the deliveries; last answer: \[\]$"):
        await wait_until(lambda: [], timeout=0.05, message="the deliveries")

    def missing() -> str:
        return f"delivery of {state['missing']}"

    async def shrink() -> None:
        await asyncio.sleep(0)
        state["missing"] = ["b"]

    task = asyncio.create_task(shrink())
    with pytest.raises(AssertionError, match=r"for delivery of \['b'\]; last answer: \[\]$"):
        await wait_until(lambda: [], timeout=0.05, message=missing)
    await task


async def test_a_long_last_answer_is_shortened():
    class Empty(list):
        """A list that counts as no answer however long it is."""

        def __bool__(self) -> bool:
            return False

    with pytest.raises(AssertionError) as err:
        await wait_until(lambda: Empty(range(1000)), timeout=0.01)
    assert str(err.value).endswith("...")
    assert len(str(err.value)) < 400


async def test_an_async_predicate_that_never_answers_is_cut_off():
    never = asyncio.Event()

    async def hangs() -> bool:
        await never.wait()
        return True

    with pytest.raises(AssertionError, match=r"hangs; last answer: none \(it was still being awaited\)$"):
        await wait_until(hangs, timeout=0.05)


async def test_what_the_predicate_raises_goes_through():
    def exited() -> bool:
        raise RuntimeError("the process exited with 1")

    with pytest.raises(RuntimeError, match="exited with 1"):
        await wait_until(exited)

    async def own_timeout() -> bool:
        raise TimeoutError("its own")

    with pytest.raises(TimeoutError, match="its own"):
        await wait_until(own_timeout)


async def test_the_bounds_must_make_sense():
    with pytest.raises(ValueError, match="timeout > 0"):
        await wait_until(lambda: True, timeout=0)
    with pytest.raises(ValueError, match="interval >= 0"):
        await wait_until(lambda: True, interval=-1)
