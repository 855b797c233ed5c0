"""The gate that holds sends while a leader is unsure of its lease."""

from __future__ import annotations

import asyncio

from tocsin.core.gate import Gate


async def test_an_open_gate_lets_a_send_go_at_once():
    gate = Gate()
    await asyncio.wait_for(gate.wait(), 1)
    assert gate.held == 0


async def test_a_send_waits_while_unsure_and_goes_once_sure():
    sure = False
    gate = Gate(lambda: sure)
    waiting = [asyncio.create_task(gate.wait()) for _ in range(3)]
    await asyncio.sleep(0.3)
    assert not any(t.done() for t in waiting)
    assert gate.held == 3
    sure = True
    await asyncio.wait_for(asyncio.gather(*waiting), 2)
    assert gate.held == 0


async def test_a_held_send_cancelled_is_no_longer_counted():
    gate = Gate(lambda: False)
    task = asyncio.create_task(gate.wait())
    await asyncio.sleep(0.05)
    assert gate.held == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert gate.held == 0
