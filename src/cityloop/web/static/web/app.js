// cityloop console behaviour. Pages work without it (plain forms and links); this adds maps, charts,
// GPS, the category search and photo previews. Initialises on first load and on every htmx swap.
(function () {
  "use strict";
  var cfg = null;

  function config() {
    if (!cfg) {
      var el = document.getElementById("map-config");
      cfg = el ? JSON.parse(el.textContent) : { tiles: null, center: [30.274, 120.155] };
    }
    return cfg;
  }

  // GeoJSON comes from the server in the tiles' datum (?crs=gcj02 for AMap-style tiles).
  function withCrs(url) {
    var c = config();
    if (!c.tiles || c.tiles.crs !== "gcj02") return url;
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "crs=gcj02";
  }

  function baseMap(el, opts) {
    var c = config();
    var map = L.map(el, { preferCanvas: true, zoomControl: true, attributionControl: !!(c.tiles && c.tiles.attribution) });
    if (c.tiles && c.tiles.url) {
      L.tileLayer(c.tiles.url, { maxZoom: c.tiles.maxZoom || 18, attribution: c.tiles.attribution || "" }).addTo(map);
    } else {
      el.classList.add("no-tiles");  // no tiles configured: boundaries and grids on a plain background
    }
    map.setView(opts.center || c.center, opts.zoom || 13);
    el._cityloopMap = map;
    return map;
  }

  var COLORS = { red: "#d64545", yellow: "#d69e2e", green: "#1f9d55", grey: "#6b7686", blue: "#2b6cc4" };

  function caseMarker(feature, latlng) {
    var p = feature.properties || {};
    if (p.kind === "case") {  // the case a page is about: larger, red, above its neighbours
      return L.circleMarker(latlng, { radius: 10, color: "#fff", weight: 2.5, fillColor: COLORS.red, fillOpacity: 1 });
    }
    var color = COLORS[p.color] || COLORS.blue;
    return L.circleMarker(latlng, { radius: p.urgent ? 8 : 6, color: "#fff", weight: 1.5, fillColor: color, fillOpacity: 0.9 });
  }

  function popup(feature, layer) {
    var p = feature.properties || {};
    if (p.popup) layer.bindPopup(p.popup);
    else if (p.name) layer.bindTooltip(p.name);
  }

  function fetchJson(url) {
    return fetch(withCrs(url), { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.json();
    });
  }

  // <div class="map" data-map='{"center":[lat,lon],"zoom":16,"layers":[{"url":"…","kind":"area|cases|point"}]}'>
  function initMap(el) {
    if (el._cityloopMap) return;
    var opts = JSON.parse(el.getAttribute("data-map") || "{}");
    var map = baseMap(el, opts);
    var bounds = null;
    (opts.layers || []).forEach(function (spec) {
      fetchJson(spec.url).then(function (data) {
        var layer;
        if (spec.kind === "cases") {
          layer = L.geoJSON(data, { pointToLayer: caseMarker, onEachFeature: popup });
        } else {
          layer = L.geoJSON(data, {
            // polygons get the layer's style; points keep the style their marker was made with
            style: function (f) {
              return f.geometry.type === "Point" ? {} : (spec.style || { color: "#2b6cc4", weight: 1.5, fillOpacity: 0.06 });
            },
            pointToLayer: caseMarker, onEachFeature: popup,
          });
        }
        layer.addTo(map);
        if (spec.fit) { bounds = layer.getBounds(); if (bounds.isValid()) map.fitBounds(bounds, { maxZoom: 17 }); }
      }).catch(function (e) { console.warn(e); });
    });
    if (el.getAttribute("data-pick")) enablePick(el, map);
  }

  // Choosing a place by clicking the map (the 随手拍 and report forms): fills the lat/lon inputs.
  function enablePick(el, map) {
    var form = el.closest("form");
    var marker = null;
    map.on("click", function (e) {
      if (marker) marker.setLatLng(e.latlng); else marker = L.marker(e.latlng).addTo(map);
      setPoint(form, e.latlng.lat, e.latlng.lng, config().tiles && config().tiles.crs === "gcj02" ? "gcj02" : "wgs84");
    });
  }

  function setPoint(form, lat, lon, crs) {
    if (!form) return;
    var f = function (n) { return form.querySelector("[name=" + n + "]"); };
    if (f("lat")) f("lat").value = lat.toFixed(6);
    if (f("lon")) f("lon").value = lon.toFixed(6);
    if (f("crs")) f("crs").value = crs;
    var out = form.querySelector("[data-point-text]");
    if (out) out.textContent = lat.toFixed(5) + ", " + lon.toFixed(5);
  }

  function initGeolocate(btn) {
    btn.addEventListener("click", function (ev) {
      ev.preventDefault();
      var form = btn.closest("form");
      var out = form && form.querySelector("[data-point-text]");
      if (!navigator.geolocation) { if (out) out.textContent = "此设备不支持定位，请在地图上点选"; return; }
      if (out) out.textContent = "定位中…";
      navigator.geolocation.getCurrentPosition(function (pos) {
        setPoint(form, pos.coords.latitude, pos.coords.longitude, "wgs84");  // GPS is WGS-84
        var m = form.querySelector(".map");
        if (m && m._cityloopMap) m._cityloopMap.setView([pos.coords.latitude, pos.coords.longitude], 17);
      }, function (err) { if (out) out.textContent = "定位失败（" + err.message + "），请在地图上点选"; },
      { enableHighAccuracy: true, timeout: 15000 });
    });
  }

  // <input data-filter="#id"> hides the labels inside #id whose text does not contain what was typed.
  function initFilter(input) {
    var list = document.querySelector(input.getAttribute("data-filter"));
    if (!list) return;
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      list.querySelectorAll("label").forEach(function (l) {
        l.hidden = q !== "" && l.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  }

  // <input data-filter-options="#select"> hides the options not containing what was typed (long unit lists).
  function initOptionFilter(input) {
    var select = document.querySelector(input.getAttribute("data-filter-options"));
    if (!select) return;
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      var first = null;
      Array.prototype.forEach.call(select.options, function (o) {
        var show = q === "" || o.textContent.toLowerCase().indexOf(q) >= 0;
        o.hidden = !show;
        if (show && !first) first = o;
      });
      if (first && select.selectedOptions[0] && select.selectedOptions[0].hidden) first.selected = true;
    });
  }

  function initChart(el) {
    if (el._chart || typeof echarts === "undefined") return;
    el._chart = echarts.init(el);
    el._chart.setOption(JSON.parse(el.getAttribute("data-chart")));
  }

  function init(root) {
    root.querySelectorAll(".map[data-map]").forEach(initMap);
    root.querySelectorAll("[data-geolocate]").forEach(initGeolocate);
    root.querySelectorAll("input[data-filter]").forEach(initFilter);
    root.querySelectorAll("input[data-filter-options]").forEach(initOptionFilter);
    root.querySelectorAll("[data-chart]").forEach(initChart);
  }

  window.cityloop = { baseMap: baseMap, fetchJson: fetchJson, withCrs: withCrs, caseMarker: caseMarker, popup: popup,
                      config: config, COLORS: COLORS };
  document.addEventListener("DOMContentLoaded", function () {
    // htmx.onLoad runs for the first page (with document.body) and for every swapped fragment after.
    if (window.htmx) htmx.onLoad(init); else init(document);
  });
})();
