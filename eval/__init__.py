"""Metrics and the evaluation harness. Knows nothing about backbones: it receives a sampling function.

Never ``import eval`` bare (it would hide the builtin); write ``from eval import color`` or
``from eval.color import ...``.
"""
