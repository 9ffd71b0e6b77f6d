"""Charts: the figures every lab draws, the same way in every lab.

Picture the graphs an engineer pins next to a design review: latency climbing
as load grows (the "hockey stick"), latency and errors over time around an
outage, and the spread of latencies behind a single average. Each helper here
takes a tidy table from a simulation (and, where one exists, the closed-form
curve) and returns an Altair chart. A helper given `control=` adds a slider or
a drop-down bound to a column: moving it filters data precomputed by the build,
so the chart moves in the static site with no kernel and no network.

Importing this module enables the book's offline renderer (see `render`) and changes no
other setting: Altair's limit of 5,000 rows a chart stays, since the build precomputes far
fewer (the largest lab chart has about a thousand) and a page must stay light on a phone.
"""

import json

import altair as alt
import numpy as np
import pandas as pd

from ..core import checks
from ..core.metrics import headline, over_time
from ..core.simulate import Result
from . import render  # noqa: F401  (render registers and enables the offline renderer)

WIDTH, HEIGHT = 560, 300
METRIC_COLOURS = {"mean": "#4c78a8", "p50": "#54a24b", "p99": "#e45756"}
OUTCOME_COLOURS = {"ok": "#54a24b", "dropped": "#f58518", "failed": "#e45756",
                   "lost": "#7b3294", "timed_out": "#8c6d31", "in_flight": "#9d9d9d"}
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2"]


def control(column, values, name, kind="slider"):
    """An Altair parameter over `column`: a "slider" (evenly spaced values), "select" or "radio"."""
    values = sorted(pd.unique(pd.Series(checks.sequence("values", values))).tolist())
    if not values:
        raise ValueError("values must hold at least one value for the control")
    if kind == "slider":
        steps = pd.Series(values).diff().dropna().round(12).unique()
        if len(steps) > 1:
            raise ValueError(f"values must be evenly spaced for a slider, "
                             f"got {checks.shown(values)}")
        binding = alt.binding_range(min=values[0], max=values[-1], name=name,
                                    step=float(steps[0]) if len(steps) else 1)
    elif kind == "select":
        binding = alt.binding_select(options=values, name=name)
    elif kind == "radio":
        binding = alt.binding_radio(options=values, name=name)
    else:
        raise ValueError(f"kind must be one of 'slider', 'select', 'radio', got {kind!r}")
    name = "control_" + "".join(c if c.isalnum() else "_" for c in column)
    return alt.param(name=name, value=values[len(values) // 2], bind=binding)


def _filtered(chart, params):
    """Keep the rows matching every control (numbers to rounding: slider steps are sums)."""
    for column, parameter in params:
        field, name = f"datum[{json.dumps(column)}]", parameter.name
        if isinstance(parameter.param.value, str):
            chart = chart.transform_filter(f"{field} == {name}")
        else:
            chart = chart.transform_filter(f"abs({field} - {name}) <= 1e-9 * abs({name}) + 1e-12")
    return chart


def _with_controls(chart, params):
    """`chart` carrying the parameters its controls are bound to (none: as it is)."""
    return chart.add_params(*[parameter for _, parameter in params]) if params else chart


def _controls(table, controls):
    """(column, parameter) pairs for (column, label, kind) triples."""
    for control_spec in checks.sequence("controls", controls):
        if not isinstance(control_spec, tuple) or len(control_spec) != 3:
            raise ValueError(f"controls must be (column, label, kind) triples, "
                             f"got {control_spec!r}")
        checks.columns("table", table, control_spec[0])
    return [(column, control(column, table[column], label, kind))
            for column, label, kind in controls]


def as_series(table, columns, series="series", value="value"):
    """A wide table's `columns` stacked into one column, `value`, with a column `series`
    saying which each row came from: the long shape `lines` and `bars` draw one colour per
    series from. `columns` maps each column to the name shown for it (a list shows the
    column names); every other column stays beside it (for controls and categories)."""
    shown = dict(columns) if isinstance(columns, dict) else {column: column
                                                             for column in columns}
    checks.columns("table", table, *shown)
    kept = [column for column in table.columns if column not in shown]
    long = table.melt(id_vars=kept, value_vars=list(shown), var_name=series, value_name=value)
    long[series] = long[series].map(shown)
    return long


def lines(table, x, y, series, x_title, y_title, controls=(), log_y=False, threshold=None,
          log_x=False, marks=(), step=False):
    """Points joined by lines, one colour per `series`, with optional kernel-free controls.

    threshold: optional (value, label) drawn as a dashed horizontal rule (a target, say).
    marks: (x, label) pairs drawn as dotted vertical rules (moments on a time axis).
    step: draw each series as steps (a count that changes at moments), without points.
    """
    checks.columns("table", table, x, y, series)
    params = _controls(table, controls)
    names = list(pd.unique(table[series]))
    mark = {"interpolate": "step-after"} if step else {"point": True}
    chart = alt.Chart(table).mark_line(**mark).encode(
        alt.X(f"{x}:Q", title=x_title, scale=alt.Scale(type="log" if log_x else "linear")),
        alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(type="log" if log_y else "linear")),
        alt.Color(f"{series}:N", title=series, legend=alt.Legend(orient="top"),
                  scale=alt.Scale(domain=names, range=PALETTE[:len(names)])),
        tooltip=[f"{series}:N", alt.Tooltip(f"{x}:Q", format=",.4~g"),
                 alt.Tooltip(f"{y}:Q", format=",.4~g")])
    chart = _filtered(chart, params)
    if threshold is not None:
        value, label = threshold
        rule = alt.Chart(pd.DataFrame({y: [value], "label": [label]}))
        chart = alt.layer(chart, rule.mark_rule(strokeDash=[6, 4], color="#333").encode(y=f"{y}:Q"),
                          rule.mark_text(align="left", dy=-6, x=4, color="#333")
                          .encode(y=f"{y}:Q", text="label:N"))
    if marks:
        moments = alt.Chart(pd.DataFrame(list(marks), columns=[x, "label"]))
        chart = alt.layer(chart, moments.mark_rule(strokeDash=[2, 2], color="#333").encode(
            x=f"{x}:Q", tooltip=["label:N"]), moments.mark_text(
            align="left", dx=3, baseline="top", angle=90, fontSize=10, color="#333").encode(
            x=f"{x}:Q", y=alt.value(4), text="label:N"))
    return _with_controls(chart.properties(width=WIDTH, height=HEIGHT), params)


def bars(table, category, value, series, category_title, value_title, controls=(),
         log_y=False):
    """Grouped bars: one group per `category`, one bar per `series` in it."""
    checks.columns("table", table, category, value, series)
    params = _controls(table, controls)
    names = list(pd.unique(table[series]))
    baseline = {}
    if log_y:  # a log axis has no zero: bars stand on the power of ten below the smallest
        smallest = table.loc[table[value] > 0, value].min()
        baseline = {"y2": alt.Y2(datum=10.0 ** np.floor(np.log10(smallest)))}
    chart = alt.Chart(table).mark_bar().encode(
        alt.X(f"{category}:N", title=category_title, sort=list(pd.unique(table[category])),
              axis=_category_axis(pd.unique(table[category]))),
        alt.XOffset(f"{series}:N", sort=names),
        alt.Y(f"{value}:Q", title=value_title,
              scale=alt.Scale(type="log") if log_y else alt.Undefined),
        alt.Color(f"{series}:N", title=series, legend=alt.Legend(orient="top"),
                  scale=alt.Scale(domain=names, range=PALETTE[:len(names)])),
        tooltip=[f"{category}:N", f"{series}:N", alt.Tooltip(f"{value}:Q", format=",.4~g")],
        **baseline)
    return _with_controls(_filtered(chart, params).properties(width=WIDTH, height=HEIGHT),
                          params)


def panels_over_time(table, x, series, x_title, controls=(), height=110):
    """One small panel per `measure` (the table's `measure` column, its `value` column on the
    y axis), stacked over one time axis, one colour per `series`: a fleet's load, servers
    and latency read together, with optional kernel-free controls."""
    checks.columns("table", table, x, "measure", "value", series)
    params = _controls(table, controls)
    names = list(pd.unique(table[series]))
    colour = alt.Color(f"{series}:N", title=series, legend=alt.Legend(orient="top"),
                       scale=alt.Scale(domain=names, range=PALETTE[:len(names)]))
    panels = []
    for number, measure in enumerate(pd.unique(table["measure"])):
        last = number == table["measure"].nunique() - 1
        chart = alt.Chart(table[table["measure"] == measure]).mark_line().encode(
            alt.X(f"{x}:Q", title=x_title if last else None,
                  axis=alt.Axis(labels=last, ticks=last)),
            alt.Y("value:Q", title=measure), colour,
            tooltip=[f"{series}:N", alt.Tooltip(f"{x}:Q", format=",.4~g"),
                     alt.Tooltip("value:Q", title=measure, format=",.3~g")])
        panels.append(_filtered(chart, params).properties(width=WIDTH, height=height))
    return _with_controls(alt.vconcat(*panels, spacing=6), params)


FLEET_MEASURES = {"load": "requests per second", "servers": "servers in service",
                  "p99": "p99 latency (s)"}


def fleet_timeline(timelines, series, x_title, seconds_per_unit=60.0, controls=()):
    """Load, servers in service and p99 latency over a run, one panel each
    (`panels_over_time`): `timelines` holds one or more `scaling_report` timelines, told
    apart by the column `series` (and by any control columns); the time axis is in units of
    `seconds_per_unit` (60: minutes, 3600: hours)."""
    checks.columns("timelines", timelines, "time", series, *FLEET_MEASURES)
    checks.positive("seconds_per_unit", seconds_per_unit)
    table = timelines.assign(**{x_title: timelines["time"] / seconds_per_unit})
    table = table.drop(columns=[column for column in ("time", "dropped") if column in table])
    return panels_over_time(as_series(table, FLEET_MEASURES, series="measure"), x_title,
                            series, x_title, controls)


def time_by_tier(table, category, category_title, controls=()):
    """Where the time goes: for each `category` (a design, a load...), a bar of the mean
    latency of served requests, stacked by the tier it was spent in (the summary's
    `mean_time_in.*` columns), plus what no tier's queue or service accounts for (trips
    between tiers, waits for replicas) as "between tiers"."""
    checks.columns("table", table, category, "mean_latency")
    tiers = [column for column in table.columns if column.startswith("mean_time_in.")]
    if not tiers:
        raise ValueError("table must have mean_time_in.* columns (from a run's summary), "
                         f"got {checks.shown(list(table.columns))}")
    params = _controls(table, controls)
    kept = [category, *[column for column, *_ in controls]]
    parts = table[kept + ["mean_latency"] + tiers].copy()
    parts["mean_time_in.between tiers"] = (parts["mean_latency"]
                                           - parts[tiers].fillna(0).sum(axis=1)).clip(lower=0)
    long = parts.melt(id_vars=kept, value_vars=tiers + ["mean_time_in.between tiers"],
                      var_name="tier", value_name="seconds")
    long["tier"] = long["tier"].str.removeprefix("mean_time_in.")
    long["ms"] = 1000 * long["seconds"].fillna(0)
    names = list(pd.unique(long["tier"]))
    chart = alt.Chart(long).mark_bar().encode(
        alt.X(f"{category}:N", title=category_title, sort=list(pd.unique(table[category])),
              axis=_category_axis(pd.unique(table[category]))),
        alt.Y("ms:Q", stack=True, title="mean latency of served requests (ms)"),
        alt.Color("tier:N", title="time spent in", legend=alt.Legend(orient="top"),
                  scale=alt.Scale(domain=names, range=PALETTE[:len(names)])),
        alt.Order("tier:N", sort="ascending"),
        tooltip=[f"{category}:N", "tier:N", alt.Tooltip("ms:Q", format=",.1f")])
    return _with_controls(_filtered(chart, params).properties(width=WIDTH, height=HEIGHT),
                          params)


def _category_axis(categories, character=6):
    """An axis whose labels turn when there is less room under each category than the
    longest label needs (on a phone, say): an expression on the view's width, so it holds
    at whatever width the chart is drawn. `character`: pixels a label character needs."""
    room = max(len(str(name)) for name in categories) * character
    turn = f"width / {len(categories)} < {room}"
    return alt.Axis(labelAngle=alt.ExprRef(f"{turn} ? -40 : 0"),
                    labelAlign=alt.ExprRef(f"{turn} ? 'right' : 'center'"),
                    labelBaseline=alt.ExprRef(f"{turn} ? 'middle' : 'top'"))


def latency_vs_load(simulated, theory=None, x="offered_load", x_title="offered load (ρ)",
                    metrics=("mean", "p99"), series="metric", controls=()):
    """The hockey stick: simulated latency (points) and theory (dashed lines) against load.

    simulated: one row per run with `x`, the `series` column unless it is "metric",
        and `mean_latency`, `p50_latency`, `p99_latency` (seconds).
    theory: optional rows with `x`, `metric`, `latency` (seconds) and the `series` column.
    series: what the colours tell apart, "metric" or a column such as "design"; with
        another column, each metric gets its own panel.
    controls: (column, label, kind) for each kernel-free control, kind "slider",
        "select" or "radio"; both tables need the column.
    """
    checks.one_of("series", series, ("metric", *getattr(simulated, "columns", ())))
    checks.columns("simulated", simulated, x, *[f"{m}_latency" for m in metrics])
    if theory is not None:
        checks.columns("theory", theory, x, "metric", "latency")
    params = _controls(simulated, controls)
    keep = [x] + [column for column, _, _ in controls] + ([] if series == "metric" else [series])
    points = simulated.melt(id_vars=keep, value_vars=[f"{m}_latency" for m in metrics],
                            var_name="metric", value_name="latency")
    points["metric"] = points["metric"].str.removesuffix("_latency")
    curve = None
    if theory is not None:
        curve = theory[theory["metric"].isin(metrics)]
    panels = [_latency_panel(points, curve, x, x_title, series, metric, params)
              for metric in (metrics if series != "metric" else [None])]
    return _with_controls(panels[0] if len(panels) == 1 else alt.hconcat(*panels), params)


def _latency_panel(points, curve, x, x_title, series, metric, params):
    """One panel of `latency_vs_load`: all metrics, or one `metric` coloured by series."""
    if metric is not None:
        points = points[points["metric"] == metric]
        curve = curve[curve["metric"] == metric] if curve is not None else None
    points = points.assign(latency_ms=points["latency"] * 1000)
    names = list(pd.unique(points[series]))
    palette = ([METRIC_COLOURS[name] for name in names] if series == "metric"
               else PALETTE[:len(names)])
    colour = alt.Color(f"{series}:N", title=series, legend=alt.Legend(orient="top"),
                       scale=alt.Scale(domain=names, range=palette))
    x_axis = alt.X(f"{x}:Q", title=x_title)
    y_title = f"{metric} latency (ms)" if metric else "latency (ms)"
    y_axis = alt.Y("latency_ms:Q", title=y_title)
    tooltip = [alt.Tooltip(f"{x}:Q", format=".3"), f"{series}:N",
               alt.Tooltip("latency_ms:Q", format=".1f", title="latency (ms)")]
    layers = [_filtered(alt.Chart(points).mark_point(filled=True, size=50)
                        .encode(x_axis, y_axis, colour, tooltip=tooltip), params)]
    if curve is not None and len(curve):
        curve = curve.assign(latency_ms=curve["latency"] * 1000)
        layers.insert(0, _filtered(alt.Chart(curve).mark_line(strokeDash=[4, 3])
                                   .encode(x_axis, y_axis, colour, detail="metric:N"), params))
    width = WIDTH if metric is None else WIDTH // 2 - 20
    return alt.layer(*layers).properties(width=width, height=HEIGHT)


def timeline(table, events=(), title=None):
    """Latency percentiles over time (top) and outcomes per second (bottom).

    table: from `metrics.over_time`; events: (time, label) pairs drawn as rules.
    """
    checks.columns("table", table, "time", "p50", "p99")
    latency = table.melt(id_vars="time", value_vars=["p50", "p99"], var_name="metric",
                         value_name="latency")
    latency["latency_ms"] = latency["latency"] * 1000
    x_axis = alt.X("time:Q", title="time (s)")
    rules = pd.DataFrame(list(events), columns=["time", "event"])
    marks = (alt.Chart(rules).mark_rule(color="#333", strokeDash=[2, 2])
             .encode(x="time:Q", tooltip=["event:N", "time:Q"]))
    labels = (alt.Chart(rules).mark_text(align="left", dx=3, dy=-4, baseline="top", fontSize=11)
              .encode(x="time:Q", y=alt.value(0), text="event:N"))
    top = alt.layer(
        alt.Chart(latency).mark_line(point=False).encode(
            x_axis, alt.Y("latency_ms:Q", title="latency of served requests (ms)"),
            alt.Color("metric:N", scale=alt.Scale(domain=["p50", "p99"],
                                                  range=[METRIC_COLOURS["p50"],
                                                         METRIC_COLOURS["p99"]])),
            tooltip=["time:Q", "metric:N", alt.Tooltip("latency_ms:Q", format=".1f")]),
        marks, labels).properties(width=WIDTH, height=200, title=title or "")
    outcomes = [o for o in OUTCOME_COLOURS if o in table.columns]
    counts = table.melt(id_vars="time", value_vars=outcomes, var_name="outcome",
                        value_name="requests")
    bin_seconds = float(table["time"].diff().min()) if len(table) > 1 else 1.0
    counts["per_second"] = counts["requests"] / bin_seconds
    bottom = alt.layer(
        alt.Chart(counts).mark_area().encode(
            x_axis, alt.Y("per_second:Q", stack=True, title="requests per second"),
            alt.Color("outcome:N", scale=alt.Scale(domain=outcomes,
                                                   range=[OUTCOME_COLOURS[o] for o in outcomes])),
            tooltip=["time:Q", "outcome:N", alt.Tooltip("per_second:Q", format=".0f")]),
        marks).properties(width=WIDTH, height=140)
    return alt.vconcat(top, bottom).resolve_scale(color="independent")


def run_timeline(result, bin_seconds=1.0):
    """`timeline` of one run: its requests per time bin, its events marked, its headline."""
    checks.instance("result", result, Result, "the Result of simulate()")
    events = [(time, f"{component} {event}")
              for time, component, event in result.events.itertuples(index=False)]
    return timeline(over_time(result.requests, bin_seconds), events=events,
                    title=headline(result.summary))


def latency_distribution(requests, bins=50):
    """Histogram of served requests' latency, with the p50 and p99 marked."""
    checks.columns("requests", requests, "outcome", "latency")
    bins = checks.count("bins", bins, maximum=1000)
    latency_ms = requests.loc[requests["outcome"] == "ok", "latency"].to_numpy() * 1000
    counts, edges = np.histogram(latency_ms, bins=bins)
    histogram = pd.DataFrame({"from_ms": edges[:-1], "to_ms": edges[1:], "requests": counts})
    marks = pd.DataFrame({"metric": ["p50", "p99"],
                          "latency_ms": np.percentile(latency_ms, [50, 99])})
    bars = alt.Chart(histogram).mark_bar(color=METRIC_COLOURS["mean"], opacity=0.8).encode(
        alt.X("from_ms:Q", bin="binned", title="latency (ms)"), alt.X2("to_ms:Q"),
        alt.Y("requests:Q", title="requests"),
        tooltip=[alt.Tooltip("from_ms:Q", format=".1f"), alt.Tooltip("to_ms:Q", format=".1f"),
                 "requests:Q"])
    rules = alt.Chart(marks).mark_rule(strokeWidth=2).encode(
        x="latency_ms:Q",
        color=alt.Color("metric:N", scale=alt.Scale(domain=["p50", "p99"],
                                                    range=[METRIC_COLOURS["p50"],
                                                           METRIC_COLOURS["p99"]])),
        tooltip=["metric:N", alt.Tooltip("latency_ms:Q", format=".1f")])
    return alt.layer(bars, rules).properties(width=WIDTH, height=220)


def latency_cdf(requests_by_name, series="design"):
    """Share of served requests finished within each latency, one line per named run.

    requests_by_name: {name: requests table}. Reads p50 and p99 off at 0.5 and 0.99.
    """
    for name, requests in checks.keys("requests_by_name", requests_by_name).items():
        checks.columns(f"requests_by_name[{name!r}]", requests, "outcome", "latency")
    shares = np.linspace(0, 0.999, 400)
    rows = [pd.DataFrame({series: name, "share": shares,
                          "latency_ms": np.quantile(
                              requests.loc[requests["outcome"] == "ok", "latency"], shares)
                          * 1000})
            for name, requests in requests_by_name.items()]
    table = pd.concat(rows)
    names = list(requests_by_name)
    return alt.Chart(table).mark_line().encode(
        alt.X("latency_ms:Q", title="latency (ms)"),
        alt.Y("share:Q", title="share of requests finished within", axis=alt.Axis(format="%")),
        alt.Color(f"{series}:N", legend=alt.Legend(orient="top"),
                  scale=alt.Scale(domain=names, range=PALETTE[:len(names)])),
        tooltip=[f"{series}:N", alt.Tooltip("latency_ms:Q", format=".1f"),
                 alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=WIDTH, height=HEIGHT)
