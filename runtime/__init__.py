"""Our Faust extensions: the transports, batch reading, write-behind, the coalesced table,
the web driver, the monitor, and the worker's exit rules.

Nothing here imports a module of ``app``, ``agents``, ``tables`` or ``models``: what an
extension needs from the application (settings, loggers) is passed in or read from Faust.
"""
