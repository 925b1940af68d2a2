"""The pure core shared by the hub and every client.

Nothing below this package does I/O or imports Textual; ``tests/test_purity.py``
proves it, so the hub, the CLI and the TUI can all run the same reducer.
"""
