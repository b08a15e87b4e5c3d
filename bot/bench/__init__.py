"""Benchmarks that drive the real product from a separate process.

Why a package: the hot path (webhook to reply) has targets, and a number that is
not re-measured on every change drifts. Run ``python -m bot.bench.webhook``.
"""
