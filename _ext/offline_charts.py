"""Sphinx extension: charts that render in the built site with no network.

1. Before any notebook runs, set ZTM_STATIC_SITE=1. Kernels started by the
   build inherit it, and labsupport's Altair renderer then writes each chart
   as a <div> plus a call to vegaEmbed instead of loading Vega from a CDN.
2. After the build, write Vega, Vega-Lite and vega-embed (the bundle that
   vl-convert-python ships, from PyPI) into _static/vega-offline.js, wrapped
   in a function so its top-level names do not collide with the theme's.
3. Add that script only to the pages that hold a chart.
"""

import os
from pathlib import Path

BUNDLE = "vega-offline.js"


def set_static_site(app, config):
    os.environ["ZTM_STATIC_SITE"] = "1"


def add_bundle_to_chart_pages(app, pagename, templatename, context, doctree):
    if 'class="ztm-chart"' in context.get("body", ""):
        app.add_js_file(BUNDLE)


def write_bundle(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    import altair
    import vl_convert

    version = altair.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]  # "v5.20.1" -> "5.20"
    target = Path(app.outdir) / "_static" / BUNDLE
    target.parent.mkdir(parents=True, exist_ok=True)
    bundle = vl_convert.javascript_bundle(vl_version=version)
    target.write_text(f"/* Vega, Vega-Lite {version} and vega-embed, bundled by vl-convert-python. */\n"
                      f"(function () {{\n{bundle}\n}})();\n", encoding="utf-8")


def setup(app):
    app.connect("config-inited", set_static_site)
    app.connect("html-page-context", add_bundle_to_chart_pages)
    app.connect("build-finished", write_bundle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
