"""The visual weekly report: one self-contained HTML page per run, with static SVG charts.

``data`` reads each section from the store, ``charts`` declares the charts (Vega-Altair) and renders them to SVG
(vl-convert), ``page`` lays them out with a Jinja2 template and writes the file atomically.
"""
