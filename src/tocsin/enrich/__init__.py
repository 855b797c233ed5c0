"""Built-in enrichers, configured under ``enrich:``.

Four :func:`~tocsin.hookspecs.tocsin_enrich` implementations, each its own
plugin (entry points ``enrich-rules``, ``enrich-threshold``,
``enrich-recommendations``, ``enrich-host``, so any one can be turned off with
``plugins.disable``), called in this order for every posted alert:

1. **rules** (:mod:`~tocsin.enrich.rules`) -- matchers, then labels to add and
   annotations rendered with Jinja2;
2. **threshold** (:mod:`~tocsin.enrich.threshold`) -- how far a value is beyond
   its threshold picks ``severity`` (and ``priority``) from bands, and writes
   ``threshold_message``;
3. **recommendations** (:mod:`~tocsin.enrich.recommendations`) -- lines by
   category and alertname, merged into the ``recommendations`` annotation;
4. **host** (:mod:`~tocsin.enrich.host`) -- for alerts about the machine tocsin
   runs on, its load and top processes.

The order is set with pluggy's markers: rules is ``tryfirst``, host is
``trylast``; threshold and recommendations are plain and tocsin registers
entry points sorted by name, so ``enrich-threshold`` (registered after
``enrich-recommendations``) is called before it. ``tests/unit/enrich/test_enrich.py``
checks the resulting order.

Each enricher runs under a timeout (``enrich.timeout``; the host enricher
has ``enrich.host.timeout``) and catches its own errors
(:mod:`~tocsin.enrich.bounds`): a timeout or an exception is logged with the
alert's name and fingerprint-to-be, and the alert goes on without what that
enricher had not written yet (for rules: labels are set at once, rendered
annotations only when all rendered in time). Template rendering and the
process scan run in a small thread pool so that the timeout really bounds
them; threshold and recommendations only do a few string operations on the
alert. With nothing configured an enricher returns at once, without creating
a coroutine. Their config is :mod:`~tocsin.enrich.config`.
"""
