// The portal's own script: the waste-code and NACE pickers, the quality rows' units, the
// park plan and the live stream's pause in the back/forward cache. Everything else is htmx (static/vendor/). The pages work without it: codes and
// positions can be typed, and a quality row's property names its unit.
(function () {
  "use strict";

  // Waste-code picker: choosing a result fills the code (or the resource class) and the
  // hazardous box.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.choice-button");
    if (!button) return;
    var input = document.getElementById("ewc_code");
    var hazardous = document.getElementById("hazardous");
    var chosen = document.getElementById("ewc-chosen");
    var results = document.getElementById("ewc-results");
    var resourceClass = document.getElementById("resource_class");
    input.value = button.dataset.code;
    if (resourceClass) resourceClass.value = button.dataset["class"] || "";
    if (hazardous) hazardous.checked = button.dataset.hazardous === "true";
    if (chosen) chosen.textContent = (button.dataset.code || "") + " " + button.dataset.label;
    if (results) results.innerHTML = "";
    input.focus();
    // The quality rows follow the resource chosen (listings/form.html asks for their
    // properties again).
    input.dispatchEvent(new CustomEvent("ewc-chosen", { bubbles: true }));
  });

  // A quality row shows the unit of the property chosen beside its value.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.classList || !select.classList.contains("quality-property")) return;
    var shown = document.getElementById(select.dataset.unitShown);
    var option = select.options[select.selectedIndex];
    if (shown && option) shown.textContent = option.dataset.unit || "";
  });

  // A picker's keys: arrow down from its field moves into its results, arrows move between
  // them and back to the field, Escape closes them; Enter in a search box (``enterStays``)
  // does not send the form. The waste-code picker and the NACE picker share it.
  function pickerKeys(fieldId, resultsId, enterStays) {
    document.addEventListener("keydown", function (event) {
      var results = document.getElementById(resultsId);
      if (!results) return;
      var field = document.getElementById(fieldId);
      if (event.target.id === fieldId && event.key === "ArrowDown") {
        var first = results.querySelector("button");
        if (first) { first.focus(); event.preventDefault(); }
      } else if (enterStays && event.target.id === fieldId && event.key === "Enter") {
        event.preventDefault(); // choosing, not sending the form
      } else if (event.target.closest && event.target.closest("#" + resultsId)) {
        var buttons = Array.prototype.slice.call(results.querySelectorAll("button"));
        var at = buttons.indexOf(event.target);
        if (event.key === "ArrowDown" && at < buttons.length - 1) { buttons[at + 1].focus(); event.preventDefault(); }
        if (event.key === "ArrowUp") { (at > 0 ? buttons[at - 1] : field).focus(); event.preventDefault(); }
        if (event.key === "Escape") { results.innerHTML = ""; field.focus(); }
      }
    });
  }
  pickerKeys("ewc_code", "ewc-results", false);

  // NACE picker (the sign-up and profile forms): shown only with script; choosing an
  // activity adds its code to the field of codes (typed codes keep working without it).
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-needs-script]"), function (el) {
      el.hidden = false;
    });
  });

  function naceCodes(field) {
    return field.value.split(/[\s,;]+/).filter(function (code) { return code; });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.nace-choice");
    if (!button) return;
    var field = document.getElementById("nace_codes");
    var chosen = document.getElementById("nace-chosen");
    var search = document.getElementById("nace-search");
    var codes = naceCodes(field);
    if (codes.indexOf(button.dataset.nace) === -1) {
      codes.push(button.dataset.nace);
      field.value = codes.join(", ");
      if (chosen) {
        var item = document.createElement("li");
        var code = document.createElement("span");
        code.className = "code";
        code.textContent = button.dataset.nace;
        item.appendChild(code);
        item.appendChild(document.createTextNode(" " + button.dataset.label));
        chosen.appendChild(item);
      }
    }
    document.getElementById("nace-results").innerHTML = "";
    search.value = "";
    search.focus();
  });

  pickerKeys("nace-search", "nace-results", true);

  // A coordinate written as the page's language writes numbers (59,2134 on a bokmål page).
  function typed(value) {
    var text = String(value);
    return document.documentElement.lang === "nb" ? text.replace(".", ",") : text;
  }

  // The park plan: a click places the marker and fills latitude and longitude
  // (services/portal/plan.py does the same sums).
  function round(value) { return Math.round(value * 100000) / 100000; }

  document.addEventListener("click", function (event) {
    var svg = event.target.closest && event.target.closest("svg[data-plan]");
    if (!svg) return;
    var point = svg.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    var local = point.matrixTransform(svg.getScreenCTM().inverse());
    var box = svg.viewBox.baseVal;
    var south = parseFloat(svg.dataset.south), north = parseFloat(svg.dataset.north);
    var west = parseFloat(svg.dataset.west), east = parseFloat(svg.dataset.east);
    var longitude = west + local.x / box.width * (east - west);
    var latitude = north - local.y / box.height * (north - south);
    document.getElementById("latitude").value = typed(round(latitude));
    document.getElementById("longitude").value = typed(round(longitude));
    var marker = svg.querySelector("[data-marker]");
    marker.setAttribute("cx", local.x);
    marker.setAttribute("cy", local.y);
  });

  // Typed positions move the marker too.
  document.addEventListener("input", function (event) {
    if (event.target.id !== "latitude" && event.target.id !== "longitude") return;
    var svg = document.querySelector("svg[data-plan]");
    if (!svg) return;
    var latitude = parseFloat(document.getElementById("latitude").value.replace(",", "."));
    var longitude = parseFloat(document.getElementById("longitude").value.replace(",", "."));
    if (isNaN(latitude) || isNaN(longitude)) return;
    var box = svg.viewBox.baseVal;
    var south = parseFloat(svg.dataset.south), north = parseFloat(svg.dataset.north);
    var west = parseFloat(svg.dataset.west), east = parseFloat(svg.dataset.east);
    var marker = svg.querySelector("[data-marker]");
    marker.setAttribute("cx", (longitude - west) / (east - west) * box.width);
    marker.setAttribute("cy", (north - latitude) / (north - south) * box.height);
  });

  // The live stream (htmx's SSE extension, on the body of a company's pages): a page the
  // browser keeps in its back/forward cache would keep its stream open on the services
  // while another page has its own; it closes it as it goes and, shown again, reconnects
  // the way the extension does after a lost connection (an error on a closed source).
  var streams = [];
  if (window.htmx && htmx.createEventSource) {
    var createEventSource = htmx.createEventSource;
    htmx.createEventSource = function (url) {
      var source = createEventSource(url);
      streams = streams.filter(function (s) { return s.readyState !== EventSource.CLOSED; });
      streams.push(source);
      return source;
    };
  }
  var paused = [];
  window.addEventListener("pagehide", function () {
    paused = streams.filter(function (s) { return s.readyState !== EventSource.CLOSED; });
    paused.forEach(function (s) { s.close(); });
  });
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    var resumed = paused;
    paused = [];
    resumed.forEach(function (s) { s.dispatchEvent(new Event("error")); });
  });

  // A page that was refused shows its problem first.
  document.addEventListener("DOMContentLoaded", function () {
    var problem = document.getElementById("problem");
    if (problem) problem.focus();
  });
})();
