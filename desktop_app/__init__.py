"""The Engage desktop application and the ``engage`` command line.

Both only call into ``sensing``, ``fusion`` and ``irl``; no capture, fusion or learning
logic lives here.
"""
