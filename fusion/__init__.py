"""Fusion: a session's streams aligned into fixed-step states, features, actions, datasets.

Reads sessions only through :mod:`sensing.session`; never imports ``irl``.
"""
