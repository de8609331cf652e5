"""Sensing: clocks, frame sources, face features, input events, markers and the session store.

Everything a participant's machine captures passes through this package before it reaches a
session file. It imports neither ``fusion`` nor ``irl``.
"""

__version__ = "0.1.0"
