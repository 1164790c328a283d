"""Event-time windowing, pure: watermarks, admission (late, duplicate), sessions, tumbling and
hopping windows, exact top-k, interval joins. No Faust, no I/O: the activity agents keep
these values in tables and wire them to streams (docs/windowing.md).

Modules: ``units`` (microseconds), ``watermark``, ``dedupe``, ``sessions``, ``tumbling``,
``topk``, ``join``.
"""
