"""The war room's panels; each gets its data as attributes and sends messages up."""
