"""What a plugin sees of the running daemon: the object every hook gets as ``runtime``.

A plugin needs a few things: the loaded config, the clock, read access to the
alerts, a way to publish an event and to run something later. It does not
need the runtime's components or private fields, and must not depend on them:
they change between releases. So hooks receive this :class:`Facade`, not the
runtime itself.

Components are shared by typed :class:`Key` (aiohttp's ``AppKey`` is the
model): the package that defines a component defines its key next to it
(``tocsin.mute.silences.SILENCES``), the runtime provides it, and a hook that
needs it asks ``runtime[SILENCES]``. This is how the built-in plugins reach the
silences, the inhibitor, delivery and the remediation engine without importing
the runtime; a third-party plugin may share its own components the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from tocsin.core.alerts import AlertState
from tocsin.core.bus import EventBus
from tocsin.core.clock import Clock
from tocsin.core.events import Event
from tocsin.core.scheduler import Scheduler, Timer

__all__ = ["Facade", "Key"]

T = TypeVar("T")


class Key(Generic[T]):
    """A typed name for something the runtime shares: ``runtime[key]`` is a ``T``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<Key {self.name}>"


class Facade:
    """The running daemon, as plugins see it (the ``runtime`` argument of every hook).

    ``config``
        The loaded config (:class:`tocsin.config.document.Config`): ``config.route``,
        ``config.receivers``, ``config.document`` (the YAML as decoded),
        ``config.global_``. A reload replaces it; read it at each call, do not keep it.
    ``clock``
        Wall time (``now()``) and the monotonic scale timers use (``monotonic()``).
        Tests swap in a fake clock: use it instead of :mod:`time`.
    ``alerts``
        The alerts tocsin holds, by fingerprint: ``get(fp)``, iteration, ``len``,
        ``firing(now)``. Read only: change alerts by posting them.
    """

    __slots__ = ("_bus", "_scheduler", "_shared", "alerts", "clock", "config")

    def __init__(self, *, config: Any, clock: Clock, alerts: AlertState, bus: EventBus,
                 scheduler: Scheduler) -> None:
        self.config = config
        self.clock = clock
        self.alerts = alerts
        self._bus = bus
        self._scheduler = scheduler
        self._shared: dict[Key[Any], Any] = {}

    async def publish(self, event: Event) -> None:
        """Put an event on the bus; every subscriber (and ``tocsin_observe``) sees it."""
        await self._bus.publish(event)

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Call ``callback(*args)`` on the event loop after ``delay`` seconds of the
        clock (a fake clock in tests). It must be quick and must not raise; return
        ``timer.cancel()`` to call it off."""
        return self._scheduler.call_later(delay, callback, *args)

    def __getitem__(self, key: Key[T]) -> T:
        try:
            return self._shared[key]
        except KeyError:
            raise KeyError(f"nothing provides {key.name!r}") from None

    def get(self, key: Key[T], default: T | None = None) -> T | None:
        return self._shared.get(key, default)

    def provide(self, key: Key[T], value: T) -> None:
        """Share ``value`` under ``key`` (the runtime does, at start and at each reload)."""
        self._shared[key] = value
