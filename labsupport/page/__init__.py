"""The page code: what a reader sees of a run.

charts.py (the figures, with kernel-free controls), widgets.py (the control panels in a
live kernel) and render.py (charts drawn with no network, in the site and in JupyterLab).
"""
