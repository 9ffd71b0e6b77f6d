"""Sphinx extension: every chapter page launches its lab.

A chapter is prose; its lab is the notebook. The theme puts launch and download
buttons only on notebook pages, so a chapter that names its lab in front matter
(`lab: ../labs/cache.ipynb`) gets a row at its top: open the lab on this site, launch
it in Binder's JupyterLab, or download the notebook. The Binder address is built from
the same `_config.yml` settings the theme uses (repository, branch, binderhub_url).
"""

import posixpath


def lab_row(app, pagename, templatename, context, doctree):
    lab = app.env.metadata.get(pagename, {}).get("lab")
    if not lab or "body" not in context:
        return
    lab_doc = posixpath.splitext(posixpath.normpath(
        posixpath.join(posixpath.dirname(pagename), lab)))[0]  # e.g. labs/cache
    options = app.config.html_theme_options
    launch = options.get("launch_buttons", {})
    repository = options.get("repository_url", "").rstrip("/")
    org_repo = repository.split("github.com/")[-1]
    interface = "lab/tree" if launch.get("notebook_interface") == "jupyterlab" else "tree"
    binder = (f"{launch.get('binderhub_url', '').rstrip('/')}/v2/gh/{org_repo}/"
              f"{options.get('repository_branch', 'main')}?urlpath={interface}/{lab_doc}.ipynb")
    to_root = "../" * pagename.count("/")
    context["body"] = (
        '<p class="ztm-lab-row"><strong>Lab:</strong> '
        f'<a href="{to_root}{lab_doc}.html">read it here</a> · '
        f'<a class="ztm-launch" href="{binder}">launch it in Binder (JupyterLab)</a> · '
        f'<a class="ztm-download" href="{to_root}_sources/{lab_doc}.ipynb" download>'
        'download the notebook</a></p>\n' + context["body"])


def setup(app):
    app.connect("html-page-context", lab_row)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
