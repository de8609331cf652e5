"""Per-step features by modality: vision (face rows), behaviour (input events), content.

Each module returns ``{name: values[T]}`` and ``{name: valid[T]}`` for its schema columns,
computed with :mod:`fusion.align` windows (prefix sums, no loop over steps).
"""
