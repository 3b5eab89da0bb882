"""The output stage: ``table``/``csv``/``json`` rendering to a stream, and exports of a stored run to files."""
