"""Runbooks: Markdown checklists with YAML front matter, matched to alerts by their labels.

``model`` holds the data (what attaching, working steps and drills build on),
``parse`` turns one file's text into a ``Runbook`` and its problems, ``match``
finds the runbooks an alert attaches, and ``library`` reads a directory of
them. Everything but ``library`` is pure: no I/O, no clock, no UI.
See docs/runbooks.md for the file format.
"""
