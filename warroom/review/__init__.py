"""After the incident: the review document, its keep blocks, and the blameless check.

Pure modules (no I/O, no clock, no UI) but ``files``, which reads and writes a
review file: the CLI, the hub's HTTP API and the app all call them with a
state and get the same bytes back.
"""
