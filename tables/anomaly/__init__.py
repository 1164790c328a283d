"""Log anomaly detection as pure code: no faust, no app, no clock (time is an argument).

- ``levels``: a log level in any spelling -> ``debug|info|warning|error|critical``;
- ``templates``: a message with its variable parts masked, and a short key for it;
- ``baseline``: robust per-sample EWMA of a value, and event-time decayed counts;
- ``forest``: half-space trees (an online isolation forest) with a seeded shape;
- ``detector``: one service's bounded state, the score of a log, and the quiet check.
docs/anomalies.md explains the method and how its threshold was chosen.
"""
