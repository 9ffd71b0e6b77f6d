"""Charts render offline in both places, panels re-run their chart, sweeps run anywhere."""

from concurrent.futures import ThreadPoolExecutor

import altair as alt
import ipywidgets
import numpy as np
import pandas as pd
import pytest

from labsupport import Server, Workload, simulate, theory
from labsupport.page import charts
from labsupport.core.metrics import over_time
from labsupport.core.sweep import sweep
from labsupport.page.widgets import STATIC_NOTE, Knob, control_panel, panels_shown


def small_chart():
    return alt.Chart(pd.DataFrame({"x": [1, 2], "y": [3, 4]})).mark_line().encode(x="x", y="y")


def test_live_kernels_get_the_vega_lite_5_mime_type(monkeypatch):
    monkeypatch.delenv("ZTM_STATIC_SITE", raising=False)
    bundle = small_chart()._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.vegalite.v5+json" in bundle
    assert "text/html" not in bundle  # JupyterLab would prefer HTML and draw nothing


def test_static_site_gets_a_div_and_a_local_vega_embed_call(monkeypatch):
    monkeypatch.setenv("ZTM_STATIC_SITE", "1")
    bundle = small_chart()._repr_mimebundle_()
    html = (bundle[0] if isinstance(bundle, tuple) else bundle)["text/html"]
    assert 'class="ztm-chart"' in html and "vegaEmbed(" in html
    assert "cdn" not in html.lower() and "<script src" not in html


def test_latency_vs_load_with_a_control_binds_a_slider_and_filters_both_layers():
    server = Server(mean_service_time=0.01)
    table = sweep([(server, Workload(arrival_rate=rate, requests=500, seed=1))
                   for rate in (20, 40, 60)], executor=False)
    table["service_ms"] = 10.0
    curve = pd.DataFrame(theory.mmc_curve(range(1, 90), 0.01)).assign(service_ms=10.0)
    spec = charts.latency_vs_load(table, curve, controls=[("service_ms", "ms", "slider")]
                                  ).to_dict()
    assert spec["params"][0]["bind"]["input"] == "range"
    assert all(layer["transform"][0]["filter"] for layer in spec["layer"])


def test_slider_needs_evenly_spaced_values():
    with pytest.raises(ValueError, match="values"):
        charts.control("x", [1, 2, 4], "x")
    with pytest.raises(ValueError, match="kind"):
        charts.control("x", [1, 2], "x", kind="knob")


def test_timeline_and_distribution_charts_build_from_a_run_with_a_failure():
    result = simulate(Server(failures=((5.0, 8.0),)), Workload(arrival_rate=50, duration=15))
    timeline = charts.timeline(over_time(result.requests, 1.0), events=[(5, "fails")])
    assert len(timeline.to_dict()["vconcat"]) == 2
    histogram = charts.latency_distribution(result.requests).to_dict()
    assert histogram["layer"][0]["encoding"]["x"]["bin"] == "binned"


def test_control_panel_reruns_draw_when_a_knob_moves(monkeypatch):
    monkeypatch.delenv("ZTM_STATIC_SITE", raising=False)
    calls = []

    def draw(rate):
        calls.append(rate)
        return small_chart()

    panel = control_panel([Knob("rate", "rate", 10, 0, 100, 5)], draw)
    assert isinstance(panel.controls["rate"], ipywidgets.IntSlider) and calls == [10]
    panel.controls["rate"].value = 40
    assert calls == [10, 40]
    assert "re-ran in" in panel.status.value


def test_the_panels_a_session_showed_are_found_among_its_outputs(monkeypatch):
    """What benchmarks/labs.py times and the thorough fuzz test turns: the panels in IPython's
    `Out`, with nothing kept by labsupport itself between panels."""
    monkeypatch.setenv("ZTM_STATIC_SITE", "1")
    knobs = [Knob("rate", "rate", 10, 0, 100, 5)]
    panel = control_panel(knobs, lambda rate: small_chart())
    found = panels_shown({1: "a table", 2: panel, 3: None})
    assert found == [(panel.draw, tuple(knobs))]


def test_control_panel_replaces_its_chart_in_place(monkeypatch):
    monkeypatch.delenv("ZTM_STATIC_SITE", raising=False)
    shown = []

    class Handle:
        def update(self, chart):
            shown.append(("update", chart))

    def fake_display(item, display_id=False):
        shown.append(("display", item))
        return Handle() if display_id else None

    monkeypatch.setattr("labsupport.page.widgets.display", fake_display)
    panel = control_panel([Knob("rate", "rate", 10, 0, 100, 5)], lambda rate: rate)
    panel._ipython_display_()
    panel.controls["rate"].value = 20
    assert [kind for kind, _ in shown] == ["display", "display", "update"]
    assert isinstance(shown[0][1], ipywidgets.VBox) and shown[1][1] == 10 and shown[2][1] == 20


def test_control_panel_explains_a_rejected_setting_instead_of_raising(monkeypatch):
    monkeypatch.delenv("ZTM_STATIC_SITE", raising=False)

    def draw(workers):
        Server(workers=workers)
        return small_chart()

    panel = control_panel([Knob("workers", "workers", 1, 0, 4, 1)], draw)
    panel.controls["workers"].value = 0  # Server rejects it: the panel says why
    assert "Cannot run this setting" in panel.status.value
    assert "workers must be an integer from 1 to 1,000" in panel.status.value


def test_static_site_shows_the_default_chart_and_a_note_not_dead_controls(monkeypatch):
    monkeypatch.setenv("ZTM_STATIC_SITE", "1")
    shown = []
    monkeypatch.setattr("labsupport.page.widgets.display", shown.append)
    panel = control_panel([Knob("rate", "rate", 10, 0, 100, 5)], lambda rate: rate)
    panel._ipython_display_()
    assert panel.controls == {}  # no widgets at all: nothing frozen on the page
    assert shown[0].data == STATIC_NOTE and shown[1] == 10


def test_sweep_gives_the_same_rows_in_a_process_pool_a_thread_pool_and_in_process():
    runs = [(Server(workers=w), Workload(arrival_rate=60, requests=2_000, seed=3))
            for w in (1, 2, 3)]
    serial = sweep(runs, executor=False)
    with ThreadPoolExecutor(2) as threads:
        threaded = sweep(runs, executor=threads)
    pooled = sweep(runs)
    pd.testing.assert_frame_equal(serial, threaded)
    pd.testing.assert_frame_equal(serial, pooled)
    assert serial["system.workers"].tolist() == [1, 2, 3]


def test_answer_is_folded_html_with_the_markdown_rendered():
    from labsupport.page.widgets import answer
    html = answer("p99 was **42 ms**").data
    assert html.startswith("<details") and "<summary" in html
    assert "<strong>42 ms</strong>" in html


def renders(chart):
    """Vega itself (through vl-convert, offline) draws the chart: expressions and all."""
    import vl_convert
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    return svg.startswith("<svg") and "<path" in svg


def test_every_chart_helper_gives_a_spec_vega_can_draw():
    result = simulate(Server(failures=((5.0, 8.0),)), Workload(arrival_rate=50, duration=15))
    table = sweep([(Server(workers=w, name=f"{w} workers"),
                    Workload(arrival_rate=rate, requests=500, seed=1))
                   for w in (1, 2) for rate in (20, 60)], executor=False)
    table["design (kind)"] = ["one", "one", "two", "two"]
    table["size class"] = ["small", "big", "small", "big"]
    curve = pd.DataFrame(theory.mmc_curve([20, 60], 0.01)).assign(
        **{"design (kind)": "one", "size class": "small"})
    assert renders(charts.latency_vs_load(
        table, curve, series="design (kind)", metrics=("p50", "p99"),
        controls=[("system.workers", "workers (n)", "slider"),
                  ("size class", "size", "radio")]))
    assert renders(charts.lines(table, "offered_load", "p99_latency", "design (kind)",
                                "load", "p99", controls=[("size class", "size", "select")],
                                log_y=True))
    assert renders(charts.lines(table, "offered_load", "p99_latency", "design (kind)",
                                "load", "p99", threshold=(0.05, "target")))
    assert renders(charts.lines(table, "offered_load", "p99_latency", "design (kind)",
                                "load", "p99", marks=[(0.5, "a moment")], step=True))
    assert renders(charts.bars(table, "design (kind)", "p99_latency", "size class",
                               "design", "p99", controls=[("system.workers", "n", "radio")]))
    assert renders(charts.timeline(over_time(result.requests, 1.0), events=[(5, "fails")]))
    assert renders(charts.latency_distribution(result.requests))
    assert renders(charts.latency_cdf({"one": result.requests, "two": result.requests}))
    over = charts.as_series(over_time(result.requests, 1.0)[["time", "p50", "p99"]].assign(
        design="one"), ["p50", "p99"], series="measure")
    assert renders(charts.panels_over_time(over, "time", "design", "time (s)"))
    assert renders(charts.panels_over_time(over.assign(knob=1.0), "time", "design", "t",
                                           controls=[("knob", "knob", "radio")]))
    from labsupport import Balancer
    from labsupport.components.autoscaler import Schedule, scaling_report
    scaled = simulate(Balancer.of(1, scaling=Schedule(((5, 2),))), Workload(duration=15))
    timeline = scaling_report(scaled, bin_seconds=1)["timeline"].assign(fleet="one")
    assert renders(charts.fleet_timeline(timeline, "fleet", "time (s)", seconds_per_unit=1))
    with pytest.raises(ValueError, match="timelines"):
        charts.fleet_timeline(timeline.drop(columns="p99"), "fleet", "time (s)")


def test_sweep_puts_labels_beside_each_row():
    runs = [(Server(workers=w), Workload(arrival_rate=30, requests=200, seed=1),
             {"design": f"{w} workers"}) for w in (1, 2)]
    table = sweep(runs, executor=False)
    assert table["design"].tolist() == ["1 workers", "2 workers"]
    assert table.columns[0] == "design"


def worked_out_in_the_run(result):
    """A `keep` function (module level, so worker processes can find it)."""
    return {"served_twice": 2 * int(result.summary["ok"]), "rows": len(result.requests)}


def test_sweep_keeps_what_a_function_works_out_from_each_result_where_it_ran():
    runs = [(Server(workers=w), Workload(arrival_rate=60, requests=300, seed=3))
            for w in (1, 2)]
    pooled = sweep(runs, keep=worked_out_in_the_run)
    serial = sweep(runs, keep=worked_out_in_the_run, executor=False)
    pd.testing.assert_frame_equal(pooled, serial)
    assert pooled["served_twice"].tolist() == [600, 600] and (pooled["rows"] == 300).all()
    with pytest.raises(ValueError, match="keep"):
        sweep(runs, keep="timeline")


def test_log_scale_bars_have_a_visible_height():
    import re

    import vl_convert
    table = pd.DataFrame({"policy": ["a", "a", "b", "b"], "metric": ["p50", "p99"] * 2,
                          "ms": [12.0, 66_000.0, 20.0, 150.0]})
    svg = vl_convert.vegalite_to_svg(
        charts.bars(table, "policy", "ms", "metric", "policy", "ms", log_y=True).to_dict())
    heights = [float(h) for h in re.findall(
        r'aria-roledescription="bar"[^>]*d="M[-\d.e]+,[-\d.e]+h[-\d.e]+v([-\d.e]+)', svg)]
    assert len(heights) == 4 and all(height > 1 for height in heights)


def test_run_timeline_marks_the_runs_own_events():
    result = simulate(Server(failures=((5.0, 8.0),)), Workload(arrival_rate=50, duration=15))
    spec = charts.run_timeline(result).to_dict()
    events = [row["event"] for name, rows in spec["datasets"].items() for row in rows
              if "event" in row]
    assert events == ["server fails", "server recovers"]
    assert renders(charts.run_timeline(result))


def test_as_series_stacks_the_chosen_columns_under_their_shown_names():
    wide = pd.DataFrame({"load": [0.5, 0.9], "p50_ms": [1.0, 2.0], "p99_ms": [5.0, 9.0]})
    long = charts.as_series(wide, {"p50_ms": "p50", "p99_ms": "p99"}, series="metric", value="ms")
    assert list(long.columns) == ["load", "metric", "ms"]
    assert long.to_dict("records") == [
        {"load": 0.5, "metric": "p50", "ms": 1.0}, {"load": 0.9, "metric": "p50", "ms": 2.0},
        {"load": 0.5, "metric": "p99", "ms": 5.0}, {"load": 0.9, "metric": "p99", "ms": 9.0}]
    assert set(charts.as_series(wide, ["p99_ms"])["series"]) == {"p99_ms"}
    with pytest.raises(ValueError, match="table"):
        charts.as_series(wide, ["p95_ms"])


def test_importing_the_charts_changes_no_global_setting_but_the_renderer():
    # Altair's own limit of 5,000 rows a chart stays in force, for labsupport too: every
    # chart in the labs has at most a few thousand rows, and a page stays light on a phone.
    assert alt.renderers.active == "zero-to-millions"
    assert alt.data_transformers.active == "default"
    assert "max_rows" not in alt.data_transformers.options
    table = pd.DataFrame({"x": np.arange(6_000.0), "y": np.arange(6_000.0), "series": "one"})
    with pytest.raises(alt.MaxRowsError):
        charts.lines(table, "x", "y", "series", "x", "y").to_dict()
