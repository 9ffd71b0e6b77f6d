"""Rendering charts with no network, in the static site and in JupyterLab.

Picture a book that must show its figures on a train with no signal. By default
Altair's HTML loads Vega from a CDN; here nothing is fetched from outside:

- while the book is being built (the book's Sphinx extension, `_ext/offline_charts.py`,
  sets `ZTM_STATIC_SITE`), a chart becomes a `<div>` and a script that calls
  `vegaEmbed` from the site's own copy of Vega, shipped in `_static/`, after fitting the
  spec to the width of the page (`_static/ztm-charts.js`: a phone gets stacked panels and
  narrower views), drawn as SVG so that it stays crisp if the page scales it;
- everywhere else (JupyterLab, Binder, VS Code) it becomes the Vega-Lite 5 MIME
  bundle, which JupyterLab draws with the Vega it ships with.

The script finds its chart as the `<div>` just before it, so the page needs no ids and
rebuilding the book gives the same page. Importing this module registers and enables
the renderer.
"""

import json
import os

import altair as alt


def _render(spec):
    """Altair renderer: HTML for the static site, the Vega-Lite MIME type elsewhere."""
    if not os.environ.get("ZTM_STATIC_SITE"):
        return {"application/vnd.vegalite.v5+json": spec, "text/plain": "<chart>"}
    text = json.dumps(spec, sort_keys=True).replace("</", "<\\/")  # no early </script>
    html = ('<div class="ztm-chart"></div>\n<script>(function () {\n'
            '  var chart = document.currentScript.previousElementSibling;\n'
            f'  var spec = {text};\n'
            '  function draw() {\n'
            '    var fitted = window.ztmFit ? window.ztmFit(spec, chart.clientWidth) : spec;\n'
            '    vegaEmbed(chart, fitted, {"actions": false, "renderer": "svg"});\n'
            '  }\n'
            '  if (window.vegaEmbed) { draw(); } else { window.addEventListener("load", draw); }\n'
            '})();</script>')
    return {"text/html": html}


alt.renderers.register("zero-to-millions", _render)
alt.renderers.enable("zero-to-millions")
