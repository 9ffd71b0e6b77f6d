"""Control panels: knobs that re-run a simulation and redraw its chart.

Picture the knobs on a test rig: turn one, the rig runs again, the gauge moves.
A lab declares a few `Knob`s (the parameter, its range, default and unit) and
a function that takes those values and returns a chart; `control_panel(knobs,
draw)` gives back a panel of ipywidgets that calls `draw` again whenever a
knob is released and swaps the new chart in place (an updated display, so no
flicker and no pile of stale outputs). The time each re-run took is shown under
the knobs.

`answer(text)` shows the answer to a lab question folded away until the reader
opens it, the same in JupyterLab and in the static site; the lab writes the text
as an f-string, so the numbers in it come from the run above it.

ipywidgets need a running kernel. In the static site (while the book is built)
the panel shows its chart at the default setting and one line saying where to
move things live, instead of controls that would do nothing.
"""

import html
import os
import time
from dataclasses import dataclass

import ipywidgets as widgets
from IPython.display import HTML, Markdown, display
from markdown_it import MarkdownIt

from ..core import checks


@dataclass(frozen=True)
class Knob:
    """One control: `name` is the keyword `draw` receives; a slider unless `options`."""

    name: str
    label: str
    default: object
    min: float | None = None
    max: float | None = None
    step: float | None = None
    options: tuple | None = None
    unit: str = ""

    def __post_init__(self):
        checks.text("name", self.name)
        checks.text("label", self.label)
        if self.options is not None:
            options = checks.sequence("options", self.options, maximum=1000)
            values = [option[1] if isinstance(option, tuple) and len(option) == 2 else option
                      for option in options]  # an option may be a (label, value) pair
            if self.default not in values:
                raise ValueError(f"default must be one of the options {values!r}, "
                                 f"got {self.default!r}")
            return
        low, high = checks.number("min", self.min), checks.number("max", self.max)
        step = checks.positive("step", self.step)
        if not low < high:
            raise ValueError(f"min must be below max, got min={self.min!r}, max={self.max!r}")
        if not low <= checks.number("default", self.default) <= high:
            raise ValueError(f"default must lie between min and max, got {self.default!r}")
        if (high - low) / step > 100_000:
            raise ValueError(f"step must divide max - min into at most 100,000 steps, "
                             f"got {self.step!r}")

    def widget(self):
        description = f"{self.label} ({self.unit})" if self.unit else self.label
        common = dict(value=self.default, description=description,
                      style={"description_width": "initial"},
                      layout=widgets.Layout(width="420px"))
        if self.options is not None:
            return widgets.Dropdown(options=list(self.options), **common)
        whole = all(isinstance(v, int) for v in (self.default, self.min, self.max, self.step))
        slider = widgets.IntSlider if whole else widgets.FloatSlider
        return slider(min=self.min, max=self.max, step=self.step, continuous_update=False,
                      **common)


STATIC_NOTE = ("*Live controls need a running kernel: open this lab in Binder or JupyterLab "
               "(the rocket button at the top of the page), or move the figures below that "
               "have their own controls. Shown here at the default setting.*")


def control_panel(knobs, draw):
    """A panel whose knobs re-run `draw(**values)` and show the chart it returns."""
    knobs = checks.sequence("knobs", knobs, maximum=20)
    if not all(isinstance(knob, Knob) for knob in knobs):
        raise ValueError(f"knobs must be a sequence of Knob, got {knobs!r}")
    if len({knob.name for knob in knobs}) < len(knobs):
        raise ValueError(f"knobs must have distinct names, got {[knob.name for knob in knobs]}")
    if not callable(draw):
        raise ValueError(f"draw must be a function of the knobs' values, got {draw!r}")
    return Panel(knobs, draw)


class Panel:
    """What `control_panel` returns; displaying it shows the knobs, a status line, the chart.

    The chart is shown with a display id and replaced in place on every re-run, so
    outputs never pile up (and no Output widget is needed).
    """

    def __init__(self, knobs, draw):
        self.draw, self.knobs = draw, tuple(knobs)
        self.defaults = {knob.name: knob.default for knob in knobs}
        self.static = bool(os.environ.get("ZTM_STATIC_SITE"))
        self.controls = {} if self.static else {knob.name: knob.widget() for knob in knobs}
        self.status = None if self.static else widgets.HTML()
        self.chart, self.shown = draw(**self.defaults), None
        for control in self.controls.values():
            control.observe(self.redraw, names="value")

    def redraw(self, change=None):
        """Re-run `draw` with the knobs' values and swap the new chart in."""
        values = {name: control.value for name, control in self.controls.items()}
        started = time.perf_counter()
        try:
            self.chart = self.draw(**values)
        except ValueError as error:  # a setting the model rejects: say why, keep the chart
            self.status.value = f"<b>Cannot run this setting:</b> {html.escape(str(error))}"
            return
        self.status.value = f"<small>re-ran in {time.perf_counter() - started:.2f} s</small>"
        if self.shown is not None:
            self.shown.update(self.chart)

    def _ipython_display_(self):
        if self.static:
            display(Markdown(STATIC_NOTE))
            display(self.chart)
            return
        display(widgets.VBox([*self.controls.values(), self.status]))
        self.shown = display(self.chart, display_id=True)


def panels_shown(outputs):
    """The control panels among a notebook session's shown results (IPython's `Out`), as
    (draw, knobs) pairs: what benchmarks/labs.py times and tests/test_fuzz.py fuzzes."""
    return [(shown.draw, shown.knobs) for shown in outputs.values()
            if isinstance(shown, Panel)]


def answer(markdown, title="Answer"):
    """A folded answer: `markdown` hidden under `title` until the reader opens it."""
    body = MarkdownIt().render(checks.text("markdown", markdown))
    title = html.escape(checks.text("title", title))
    # The classes are sphinx-design's, so the static site styles it like its own dropdowns.
    return HTML(f'<details class="sd-sphinx-override sd-dropdown sd-card sd-mb-3">'
                f'<summary class="sd-summary-title sd-card-header">{title}</summary>'
                f'<div class="sd-summary-content sd-card-body">{body}</div></details>')
