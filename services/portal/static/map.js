// The park on a real map (Leaflet, static/vendor/leaflet). Every figure marked
// [data-map] holds the park plan as an SVG (what shows without script) and its map data as
// JSON: markers, lines between companies, whether a click places the listing. Tiles come
// from OpenStreetMap when the browser is online; when it is offline or a tile cannot be
// loaded, the park plan is drawn in their place (data-basemap tells which is shown).
(function () {
  "use strict";

  function round(value) { return Math.round(value * 100000) / 100000; }

  // A coordinate written as the page's language writes numbers (59,2134 on a bokmål page).
  function typed(value) {
    var text = String(value);
    return document.documentElement.lang === "nb" ? text.replace(".", ",") : text;
  }

  function number(id) {
    var input = document.getElementById(id);
    return input ? parseFloat(input.value.replace(",", ".")) : NaN;
  }

  function draw(figure) {
    if (figure.dataset.drawn || typeof window.L === "undefined") return;
    var source = figure.querySelector("script.map-data");
    var canvas = figure.querySelector(".map-canvas");
    if (!source || !canvas) return;
    figure.dataset.drawn = "1";
    var data = JSON.parse(source.textContent);
    var L = window.L;
    var bounds = L.latLngBounds(data.bounds);
    var planBounds = L.latLngBounds(data.plan);

    // The plan, without what the server drew on it, becomes the offline base layer.
    var svg = canvas.querySelector("svg");
    var plan = svg.cloneNode(true);
    plan.removeAttribute("data-plan");
    plan.removeAttribute("aria-labelledby");
    plan.setAttribute("aria-hidden", "true");
    Array.prototype.forEach.call(
      plan.querySelectorAll("[data-marker], .company, .exchange, title"),
      function (el) { el.remove(); }
    );
    plan.setAttribute("preserveAspectRatio", "none");
    canvas.innerHTML = "";
    canvas.classList.add("map-live");

    var map = L.map(canvas, { scrollWheelZoom: false, zoomSnap: 0.25, zoomControl: false });
    L.control.zoom({ zoomInTitle: data.texts.zoom_in, zoomOutTitle: data.texts.zoom_out }).addTo(map);
    map.attributionControl.setPrefix("");
    map.fitBounds(bounds, { padding: [12, 12] });
    var planLayer = L.svgOverlay(plan, planBounds, { interactive: false });
    var tiles = null;

    function showPlan() {
      if (tiles) { map.removeLayer(tiles); tiles = null; }
      if (!map.hasLayer(planLayer)) planLayer.addTo(map).bringToBack();
      figure.dataset.basemap = "plan";
    }

    if (navigator.onLine === false) {
      showPlan();
    } else {
      figure.dataset.basemap = "loading";
      tiles = L.tileLayer(data.tiles.url, { maxZoom: 19, attribution: data.tiles.attribution });
      tiles.on("tileerror", showPlan);
      tiles.on("load", function () { if (tiles) figure.dataset.basemap = "tiles"; });
      tiles.addTo(map);
    }
    window.addEventListener("offline", showPlan);

    // A label names companies and listings as they wrote them: text, never markup, and
    // not in the page's language (translate="no").
    function named(label) {
      var span = document.createElement("span");
      span.textContent = label;
      span.setAttribute("translate", "no");
      return span;
    }

    (data.lines || []).forEach(function (line) {
      L.polyline([line.from, line.to], { className: "exchange", weight: line.weight || 3 })
        .bindTooltip(named(line.label || ""))
        .addTo(map);
    });
    (data.markers || []).forEach(function (marker) {
      var dot = L.circleMarker([marker.lat, marker.lon], {
        className: marker.kind || "place", radius: marker.kind === "home" ? 9 : 7,
      }).addTo(map);
      if (marker.label) {
        dot.bindTooltip(named(marker.label), { permanent: !!data.labels, direction: "right" });
      }
      if (marker.href) dot.on("click", function () { window.location.assign(marker.href); });
    });

    if (data.pick) {
      var chosen = null;
      function place(lat, lon) {
        if (chosen) chosen.setLatLng([lat, lon]);
        else chosen = L.circleMarker([lat, lon], { className: "chosen", radius: 9 }).addTo(map);
      }
      var lat0 = number("latitude"), lon0 = number("longitude");
      if (!isNaN(lat0) && !isNaN(lon0)) place(lat0, lon0);
      map.on("click", function (event) {
        var lat = round(event.latlng.lat), lon = round(event.latlng.lng);
        document.getElementById("latitude").value = typed(lat);
        document.getElementById("longitude").value = typed(lon);
        place(lat, lon);
      });
      document.addEventListener("input", function (event) {
        if (event.target.id !== "latitude" && event.target.id !== "longitude") return;
        var lat = number("latitude"), lon = number("longitude");
        if (!isNaN(lat) && !isNaN(lon)) place(lat, lon);
      });
    }
    figure.dataset.ready = "1";
  }

  function drawAll(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("[data-map]"), draw);
  }
  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  // Search results arrive by htmx with their map.
  document.addEventListener("htmx:load", function (event) { drawAll(event.target); });
})();
