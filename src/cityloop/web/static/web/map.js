// 实时地图 (/map): clustered cases coloured by their deadline lights, a heatmap, district/street/community
// boundaries and unit grids, each a layer of one control. Data comes from /map/*.geojson in the tiles' datum
// (cityloop.fetchJson adds ?crs=gcj02 when the tiles want it). Safe to run more than once: htmx re-runs this
// script on every boosted visit, so the first run installs itself and later runs only look for new maps.
(function () {
  "use strict";
  if (window.cityloopLiveMap) { window.cityloopLiveMap.scan(document); return; }

  var RANK = { grey: 0, blue: 1, yellow: 2, red: 3 };
  var AREA_STYLE = {
    district: { color: "#1d4f91", weight: 2.2, fill: false },
    street: { color: "#2b6cc4", weight: 1.2, dashArray: "5 4", fill: false },
    community: { color: "#7a8aa3", weight: 0.8, dashArray: "2 3", fill: false },
    grid: { color: "#8a6d3b", weight: 0.6, fillColor: "#d69e2e", fillOpacity: 0.04 },
  };

  function query(params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      if (params[k] !== "" && params[k] != null) parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(params[k]));
    });
    return parts.length ? "?" + parts.join("&") : "";
  }

  // A cluster takes the colour of its most pressing case, so a red case is never hidden inside a blue dot.
  function clusterIcon(cluster) {
    var worst = "grey";
    cluster.getAllChildMarkers().forEach(function (m) {
      var c = m.feature && m.feature.properties.color;
      if (RANK[c] > RANK[worst]) worst = c;
    });
    var n = cluster.getChildCount();
    var size = n < 10 ? 30 : n < 100 ? 36 : n < 1000 ? 42 : 48;
    return L.divIcon({ html: "<span>" + n + "</span>", className: "map-cluster map-cluster-" + worst,
                       iconSize: L.point(size, size) });
  }

  function filtersOf(form) {
    if (!form) return { status: "open" };
    var data = new FormData(form);
    return { status: data.get("status") || "open", kind: data.get("kind") || "", urgent: data.get("urgent") ? "1" : "" };
  }

  function init(el) {
    if (el._liveMap) return;
    el.innerHTML = "";  // a page restored from htmx's history cache brings Leaflet's old panes along
    var opts = JSON.parse(el.getAttribute("data-live-map") || "{}");
    var cl = window.cityloop;
    var map = cl.baseMap(el, { zoom: opts.zoom || 12 });
    // Without tiles Leaflet knows no zoom limits, and clustering needs the top one.
    if (!isFinite(map.getMaxZoom())) map.setMaxZoom(19);
    if (!isFinite(map.getMinZoom())) map.setMinZoom(3);
    var form = opts.form ? document.querySelector(opts.form) : null;
    var count = form ? form.querySelector("[data-map-count]") : null;
    var urls = opts.urls;
    var first = true;

    var cases = L.markerClusterGroup({ chunkedLoading: true, maxClusterRadius: 50, showCoverageOnHover: false,
                                       spiderfyOnMaxZoom: true, disableClusteringAtZoom: 18,
                                       iconCreateFunction: clusterIcon });
    var heat = L.heatLayer([], { radius: 20, blur: 16, maxZoom: 16, minOpacity: 0.3 });
    var areas = {};
    ["district", "street", "community"].forEach(function (level) {
      areas[level] = L.geoJSON(null, { style: AREA_STYLE[level], interactive: level !== "community",
                                       onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.name, { sticky: true }); } });
      areas[level]._level = level;
    });
    var grids = L.geoJSON(null, { style: AREA_STYLE.grid,
                                  onEachFeature: function (f, layer) { layer.bindTooltip(f.properties.name, { sticky: true }); } });

    function say(text) { if (count) count.textContent = text; }

    function loadCases() {
      var f = filtersOf(form);
      say("加载中…");
      cl.fetchJson(urls.cases + query(f)).then(function (data) {
        cases.clearLayers();
        var layer = L.geoJSON(data, { pointToLayer: cl.caseMarker, onEachFeature: cl.popup });
        cases.addLayers(layer.getLayers());
        var n = data.features.length;
        say(data.capped ? "显示最新 " + n + " 件（已达上限，请缩小筛选范围）" : "共 " + n + " 件");
        if (first && n) {
          var b = layer.getBounds();
          if (b.isValid()) map.fitBounds(b, { maxZoom: 15, padding: [20, 20] });
        }
        first = false;
      }).catch(function (e) { say("案件加载失败"); console.warn(e); });
      if (map.hasLayer(heat)) loadHeat();
    }

    function loadHeat() {
      cl.fetchJson(urls.heat).then(function (points) {
        // Many cases would saturate every pixel at intensity 1; scale the top so hot spots still stand out.
        heat.setOptions({ max: Math.max(1, Math.sqrt(points.length) / 10) });
        heat.setLatLngs(points);
      })
        .catch(function (e) { console.warn(e); });
    }

    function loadArea(layer) {
      if (layer._loaded) return;
      layer._loaded = true;
      cl.fetchJson(urls.territories + "?level=" + layer._level).then(function (data) {
        layer.addData(data);
        layer.bringToBack();
      }).catch(function (e) { layer._loaded = false; console.warn(e); });
    }

    // Grids only close up (there are hundreds of thousands), fetched for the box on screen after each move.
    var gridSeq = 0;
    function loadGrids() {
      if (!map.hasLayer(grids)) return;
      if (map.getZoom() < opts.gridMinZoom) { grids.clearLayers(); return; }
      var b = map.getBounds().pad(0.1);
      var seq = ++gridSeq;
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",");
      cl.fetchJson(urls.grids + "?bbox=" + bbox).then(function (data) {
        if (seq !== gridSeq) return;  // a later move already asked again
        grids.clearLayers();
        grids.addData(data);
        grids.bringToBack();
      }).catch(function (e) { console.warn(e); });
    }

    var overlays = {};
    overlays["案件（聚合）"] = cases;
    overlays["热力图（在办）"] = heat;
    overlays["区县边界"] = areas.district;
    overlays["街道边界"] = areas.street;
    overlays["社区边界"] = areas.community;
    overlays["单元网格（≥" + opts.gridMinZoom + "级）"] = grids;
    L.control.layers(null, overlays, { collapsed: false }).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);

    map.on("overlayadd", function (e) {
      if (e.layer === heat) loadHeat();
      else if (e.layer === grids) loadGrids();
      else if (e.layer._level) loadArea(e.layer);
    });
    map.on("moveend", loadGrids);

    cases.addTo(map);
    areas.district.addTo(map); loadArea(areas.district);
    grids.addTo(map);
    loadCases();
    loadGrids();

    if (form) {
      var apply = function (ev) {
        if (ev) ev.preventDefault();
        var q = query(filtersOf(form));
        if (window.history && history.replaceState) history.replaceState(history.state, "", form.action + q);
        loadCases();
      };
      form.addEventListener("submit", apply);
      form.addEventListener("change", function () { apply(null); });
    }
    el._liveMap = map;
  }

  function scan(root) {
    var base = root && root.querySelectorAll ? root : document;
    base.querySelectorAll("[data-live-map]").forEach(init);
  }

  window.cityloopLiveMap = { scan: scan };
  function start() {
    scan(document);
    if (window.htmx) htmx.onLoad(scan);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
