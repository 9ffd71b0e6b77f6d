/* Zero to Millions: fit a chart to the page it is drawn on (a phone is 360-430 px wide).
 *
 * labsupport draws charts for a 560 px column. Before a chart is drawn (labsupport/page/render.py
 * calls this), its Vega-Lite spec is fitted to the width of its container; a chart that
 * fits is left as it is. On a narrower page:
 *  - side-by-side panels (hconcat) are stacked (vconcat);
 *  - a view wider than the room beside its y axis is made narrower;
 *  - legends move above their chart and wrap into as many columns as fit;
 *  - a long title breaks into lines at its " · " separators.
 * Whatever is still too wide is scaled down by ztm.css. */
(function () {
  var AXIS = 70;       /* px beside a view: the y axis, its title and padding */
  var ENTRY = 150;     /* px a legend entry needs, when its labels are not known */
  var LABEL = 6;       /* px a character of a legend label needs */
  var CHARACTER = 7.5; /* px a character of a (bold, 13 px) title needs */
  var NARROWEST = 160; /* px: narrower than this a view says nothing */
  var CHANNELS = ["color", "shape", "strokeDash"];

  function natural(view) {
    if (view.hconcat) {
      return view.hconcat.reduce(function (sum, part) { return sum + natural(part) + 20; }, 0);
    }
    if (view.vconcat) {
      return Math.max.apply(null, view.vconcat.map(natural));
    }
    return (typeof view.width === "number" ? view.width : 300) + AXIS
      + (sideLegend(view) ? 110 : 0);
  }

  function sideLegend(view) {  /* a legend at its default place, right of the view */
    return CHANNELS.some(function (channel) {
      var encoding = view.encoding && view.encoding[channel];
      return encoding && encoding.legend !== null && !(encoding.legend || {}).orient;
    }) || (view.layer || []).some(sideLegend);
  }

  function legends(view, room) {
    CHANNELS.forEach(function (channel) {
      var encoding = view.encoding && view.encoding[channel];
      if (!encoding || encoding.legend === null) {
        return;
      }
      var legend = encoding.legend = encoding.legend || {};
      legend.orient = "top";
      var entries = encoding.scale && encoding.scale.domain;
      var entry = entries ? 30 + LABEL * Math.max.apply(null, entries.map(function (name) {
        return String(name).length; })) : ENTRY;
      if (!entries || entries.length * entry > room) {
        legend.columns = Math.max(1, Math.floor(room / entry));
      }
    });
    (view.layer || []).forEach(function (layer) { legends(layer, room); });
  }

  function title(view, room) {
    var text = typeof view.title === "string" ? view.title : null;
    if (!text || text.length * CHARACTER <= room) {
      return;
    }
    var lines = [];
    text.split(" · ").forEach(function (part) {
      var last = lines.length - 1;
      if (last >= 0 && (lines[last] + " · " + part).length * CHARACTER <= room) {
        lines[last] += " · " + part;
      } else {
        lines.push(part);
      }
    });
    view.title = {text: lines};
  }

  function fit(view, room) {
    if (natural(view) <= room) {
      return;
    }
    if (view.hconcat) {
      view.vconcat = view.hconcat;
      delete view.hconcat;
    }
    title(view, room);
    (view.vconcat || []).forEach(function (part) { fit(part, room); });
    if (typeof view.width === "number" && view.width + AXIS > room) {
      view.width = Math.max(NARROWEST, room - AXIS);
    }
    legends(view, room);
  }

  window.ztmFit = function (spec, room) {
    var copy = JSON.parse(JSON.stringify(spec));
    if (room > 0) {
      fit(copy, room);
    }
    return copy;
  };
})();
