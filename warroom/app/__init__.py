"""The Textual app: the war room in the terminal."""
