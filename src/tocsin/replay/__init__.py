"""What-if: replay the stored history of a window through a changed config.

:mod:`~tocsin.replay.history` reads the window a page at a time;
:mod:`~tocsin.replay.sim` runs it through one config (and the reloads in it) with the
daemon's own dispatcher, muters and delivery on a simulated clock, every channel a
recorder; :mod:`~tocsin.replay.report` says what differs between two runs, and
:mod:`~tocsin.replay.verify` how a run differs from what was recorded.
:mod:`~tocsin.replay.routing` is the part of a config the daemon records at each load.
"""
