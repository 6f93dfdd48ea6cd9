/**
 * The report's in-page script (plain browser JavaScript, embedded inline: the report loads
 * nothing from the network). It draws, from the embedded data, each host's full map, its zoom
 * strips and the registration timeline as SVG in real pixel coordinates (viewBox = size, so
 * text is never stretched), redraws on resize, and shows hover details.
 *
 * Implementation notes
 * - Full map: the address space is wrapped into rows of a fixed number of bytes (a power of
 *   two), so the map is to scale and a row boundary falls on 4 GiB. Labels that do not fit
 *   where they belong (the 4 GiB line's, a narrow MMIO hole's) go to a label lane opened
 *   above their row, so no label is ever drawn outside the SVG or over another. Text widths
 *   are measured (getComputedTextLength), not guessed.
 * - Zoom strips (focus.ts chose them): one bar per strip with its own address axis; each
 *   strip's `data-base`, `data-end` and `data-bpp` (bytes per pixel) say its scale.
 * - Runs are clipped to a row or strip and turned into segments left to right. A run narrower
 *   than a pixel is merged with the runs that start in the same pixel; the merged pixel takes
 *   the colour of the highest-priority category inside it (categories.ts) and its hover lists
 *   what it holds. So drawing is O(runs + pixels), whatever the RAM size. A segment that is one
 *   run carries `data-run` (its index).
 * - Timeline: one row per NIC registration, from registration to deregistration, on a time
 *   axis in milliseconds since tracing started; REGISTER_BUFFER requests refused as expected
 *   are crosses on a lane of their own. Host colours are the timeline's own.
 */
export const REPORT_CLIENT_JS = String.raw`
(function () {
  'use strict';
  var DATA = JSON.parse(document.getElementById('sanproxy-data').textContent);
  var CATS = DATA.categories;
  var CACHE = DATA.cacheTypes;
  var GIB = 1073741824, MIB = 1048576, PAGE = 4096, FOUR_GIB = 4 * GIB;
  var NS = 'http://www.w3.org/2000/svg';
  var tip = document.getElementById('tip');
  var segStore = {};
  var selected = {};

  function fmtBytes(n) {
    if (n >= GIB) return (n / GIB).toFixed(n % GIB === 0 ? 0 : 2) + ' GiB';
    if (n >= MIB) return (n / MIB).toFixed(n % MIB === 0 ? 0 : 2) + ' MiB';
    if (n >= 1024) return (n / 1024).toFixed(n % 1024 === 0 ? 0 : 1) + ' KiB';
    return n + ' B';
  }
  function hex(n) { return '0x' + n.toString(16).toUpperCase(); }
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, s, cls, anchor) {
    var t = el('text', { x: x, y: y, 'class': cls || 'lbl' }, parent);
    if (anchor) t.setAttribute('text-anchor', anchor);
    t.textContent = s;
    return t;
  }
  // Width of s drawn with class cls, measured in svg (which must be in the document).
  function measure(svg, s, cls) {
    var t = text(svg, 0, -100, s, cls);
    var w = t.getComputedTextLength();
    svg.removeChild(t);
    return w;
  }
  // s, shortened with an ellipsis until it fits in w pixels.
  function fit(svg, s, cls, w) {
    if (measure(svg, s, cls) <= w) return s;
    var lo = 0, hi = s.length;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (measure(svg, s.slice(0, mid) + '…', cls) <= w) lo = mid; else hi = mid - 1;
    }
    return lo === 0 ? '' : s.slice(0, lo) + '…';
  }
  function clear(svg, width, height) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(height));
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
  }
  function size(svg, width, height) {
    svg.setAttribute('height', String(height));
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
  }
  function pickRowBytes(span, maxRows) {
    var r = 64 * MIB;
    while (Math.ceil(span / r) > maxRows) r *= 2;
    return r;
  }
  // Index of the first run that ends after byte address a (binary search).
  function runAt(R, a) {
    var lo = 0, hi = R.count - 1, pfn = Math.floor(a / PAGE);
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (R.start[mid] + R.length[mid] <= pfn) lo = mid + 1; else hi = mid;
    }
    return lo;
  }
  function hatch(svg, key) {
    var defs = el('defs', {}, svg);
    var pat = el('pattern', { id: key + '-hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, defs);
    el('rect', { width: 6, height: 6, fill: CATS[0].color }, pat);
    el('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: '#a1a1aa', 'stroke-width': 2 }, pat);
  }

  // Segments of [a, b) at bpp bytes per pixel, runs from index i0 on.
  function segments(snap, a, b, bpp, i0) {
    var R = snap.runs, segs = [], cur = null, i = i0;
    while (i < R.count && (R.start[i] + R.length[i]) * PAGE <= a) i++;
    var j = i;
    for (; j < R.count; j++) {
      var s = Math.max(R.start[j] * PAGE, a), e = Math.min((R.start[j] + R.length[j]) * PAGE, b);
      if (s >= b) break;
      var x0 = (s - a) / bpp, x1 = (e - a) / bpp, cat = R.cat[j];
      if (cur !== null) {
        var p = Math.floor(cur.x0);
        var curNarrow = cur.x1 - cur.x0 < 1;
        if (curNarrow && x0 < p + 1 && x1 - x0 < 2) {
          cur.x1 = Math.max(cur.x1, x1); cur.last = j; cur.end = e; cur.mixed = true;
          if (CATS[cat].priority > CATS[cur.cat].priority) cur.cat = cat;
          continue;
        }
        segs.push(cur);
        if (curNarrow && x0 < p + 1) x0 = p + 1;
      }
      cur = { x0: x0, x1: Math.max(x1, x0), cat: cat, first: j, last: j, start: s, end: e, mixed: false };
    }
    if (cur !== null) segs.push(cur);
    return { segs: segs, next: Math.max(i0, j - 1) };
  }

  // Draw the segments of [a, b) into g (already translated); returns the next run index.
  function drawBar(g, snap, a, b, bpp, rowH, key, store, i0) {
    var rs = segments(snap, a, b, bpp, i0);
    var full = (b - a) / bpp;
    // Widened markers are drawn last so their neighbours do not cover them.
    var order = rs.segs.slice().sort(function (p, q) {
      return (p.x1 - p.x0 < 3 && CATS[p.cat].priority >= 7 ? 1 : 0) - (q.x1 - q.x0 < 3 && CATS[q.cat].priority >= 7 ? 1 : 0);
    });
    for (var s = 0; s < order.length; s++) {
      var seg = order[s];
      // RDMA memory and locked pages stay visible on a huge map: at least 3 px wide.
      var w = Math.max(CATS[seg.cat].priority >= 7 ? 3 : 1, seg.x1 - seg.x0);
      var attrs = {
        x: Math.max(0, Math.min(seg.x0, full - w)).toFixed(2), y: 0, width: w.toFixed(2), height: rowH,
        fill: CATS[seg.cat].key === 'hole' ? 'url(#' + key + '-hatch)' : CATS[seg.cat].color,
        'class': 'blk', 'data-map': key, 'data-seg': String(store.length)
      };
      if (seg.first === seg.last) attrs['data-run'] = String(seg.first);
      el('rect', attrs, g);
      store.push(seg);
    }
    el('rect', { x: 0, y: 0, width: full.toFixed(2), height: rowH, fill: 'none', stroke: '#3f3f46', 'stroke-width': 0.5, 'pointer-events': 'none' }, g);
    return { next: rs.next, drawn: order.length };
  }

  // Labels of one lane, left to right, each as near its anchor x as fits in [0, maxW].
  function layoutLane(svg, items, maxW) {
    items.sort(function (p, q) { return p.x - q.x; });
    var cursor = 0;
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      it.w = measure(svg, it.text, it.cls);
      if (it.w > maxW) { it.text = fit(svg, it.text, it.cls, maxW); it.w = measure(svg, it.text, it.cls); }
      it.start = Math.max(cursor, Math.min(it.x + 4, maxW - it.w));
      cursor = it.start + it.w + 12;
    }
  }

  function drawMap(svg, snap, width, key, strips) {
    var top = snap.layout.topOfMemory;
    clear(svg, width, 10);
    hatch(svg, key);
    var rowBytes = pickRowBytes(top, 16);
    var rows = Math.ceil(top / rowBytes);
    var labelW = Math.ceil(measure(svg, hex((rows - 1) * rowBytes), 'addr')) + 14;
    var barW = Math.max(120, width - labelW - 10), rowH = 16, gap = 5, lane = 16;
    var bpp = rowBytes / barW;
    var lanes = {};
    function laneItem(row, x, s, cls) { (lanes[row] = lanes[row] || []).push({ x: x, text: s, cls: cls }); }
    var four = FOUR_GIB < top ? Math.floor(FOUR_GIB / rowBytes) : -1;
    if (four >= 0) laneItem(four, (FOUR_GIB - four * rowBytes) / bpp, '4 GiB: 32-bit DMA limit', 'fourlbl');
    var hole = snap.layout.mmioHole, holeRow = -1, holeInside = false, hx = 0;
    if (hole.length > 0 && hole.base < top) {
      holeRow = Math.floor(hole.base / rowBytes);
      hx = (hole.base - holeRow * rowBytes) / bpp;
      var inRow = (Math.min(hole.base + hole.length, (holeRow + 1) * rowBytes) - hole.base) / bpp;
      holeInside = inRow >= measure(svg, 'MMIO hole', 'holelbl') + 12;
      if (!holeInside) laneItem(holeRow, hx, 'MMIO hole (' + fmtBytes(hole.length) + ', no RAM)', 'holelbl');
    }
    var store = [];
    segStore[key] = { snap: snap, segs: store };
    var i0 = 0, drawn = 0, y = 4, rowY = [];
    for (var r = 0; r < rows; r++) {
      var a = r * rowBytes, b = Math.min(a + rowBytes, top);
      if (lanes[r]) {
        layoutLane(svg, lanes[r], barW);
        for (var li = 0; li < lanes[r].length; li++) {
          var it = lanes[r][li];
          text(svg, labelW + it.start, y + 11, it.text, it.cls + ' lane');
          el('line', { x1: labelW + it.x, y1: y + 12, x2: labelW + it.x, y2: y + lane, stroke: it.cls === 'fourlbl' ? '#c2255c' : '#71717a', 'stroke-width': 1, 'pointer-events': 'none' }, svg);
        }
        y += lane;
      }
      rowY[r] = y;
      text(svg, labelW - 6, y + 12, hex(a), 'addr', 'end');
      var g = el('g', { transform: 'translate(' + labelW + ',' + y + ')' }, svg);
      var res = drawBar(g, snap, a, b, bpp, rowH, key, store, i0);
      i0 = res.next;
      drawn += res.drawn;
      if (b - a < rowBytes) el('rect', { x: ((b - a) / bpp).toFixed(2), y: 0, width: (barW - (b - a) / bpp).toFixed(2), height: rowH, fill: 'none', stroke: '#e4e4e7', 'stroke-dasharray': '3 3' }, g);
      // The 4 GiB line: 32-bit DMA reaches only what lies left of / above it.
      if (r === four) {
        var fx = (FOUR_GIB - a) / bpp;
        el('line', { x1: fx, y1: -3, x2: fx, y2: rowH + 3, stroke: '#c2255c', 'stroke-width': 3, 'class': 'four-gib', 'pointer-events': 'none' }, g);
      }
      if (r === holeRow && holeInside) text(g, hx + 6, 12, 'MMIO hole', 'holelbl');
      // Where the zoom strips below are, outlined.
      for (var s = 0; s < strips.length; s++) {
        var sa = Math.max(strips[s].base, a), sb = Math.min(strips[s].end, b);
        if (sa >= sb) continue;
        var mx = (sa - a) / bpp, mw = Math.max(3, (sb - sa) / bpp);
        el('rect', { x: Math.min(mx, barW - mw).toFixed(2), y: -2, width: mw.toFixed(2), height: rowH + 4, fill: 'none', stroke: '#18181b', 'stroke-width': 1.5, 'class': 'focus-mark', 'pointer-events': 'none' }, g);
      }
      y += rowH + gap;
    }
    size(svg, width, y + 2);
    svg.setAttribute('data-segments', String(drawn));
  }

  // Tick step for an axis: a power of two times a page for addresses.
  function addressStep(span, ticks) {
    var step = PAGE;
    while (span / step > ticks) step *= 2;
    return step;
  }

  function drawAxis(svg, g, base, end, bpp, barW, y) {
    el('line', { x1: 0, y1: y, x2: barW, y2: y, stroke: '#a1a1aa', 'stroke-width': 1 }, g);
    var labelW = measure(svg, hex(end), 'addr');
    var step = addressStep(end - base, Math.max(1, Math.floor(barW / (labelW + 36))));
    var ticks = [base];
    for (var t = Math.ceil(base / step) * step; t < end; t += step) if (t > base) ticks.push(t);
    ticks.push(end);
    var cursor = -1e9, endStart = barW - measure(svg, hex(end), 'addr');
    for (var i = 0; i < ticks.length; i++) {
      var x = (ticks[i] - base) / bpp, s = hex(ticks[i]), w = measure(svg, s, 'addr');
      el('line', { x1: x, y1: y, x2: x, y2: y + 4, stroke: '#71717a', 'stroke-width': 1 }, g);
      var last = i === ticks.length - 1;
      var start = i === 0 ? 0 : last ? barW - w : x - w / 2;
      // Skip a middle label that would overlap its neighbours or the end label.
      if (!last && i > 0 && (start < cursor + 10 || start + w > endStart - 10)) continue;
      text(g, start, y + 15, s, 'addr axis');
      cursor = start + w;
    }
  }

  function drawFocus(svg, snap, strips, width, key) {
    clear(svg, width, 10);
    hatch(svg, key);
    var store = [];
    segStore[key] = { snap: snap, segs: store };
    if (strips.length === 0) {
      text(svg, 8, 18, 'No allocation outside kernel pool in any snapshot: nothing to zoom into.', 'striptitle');
      size(svg, width, 28);
      return;
    }
    var R = snap.runs, marginL = 8, barW = Math.max(120, width - 2 * marginL), rowH = 24, y = 4;
    for (var j = 0; j < strips.length; j++) {
      var base = strips[j].base, end = strips[j].end, bpp = (end - base) / barW;
      var where = end <= FOUR_GIB ? 'below 4 GiB: a 32-bit NIC reaches it' : base >= FOUR_GIB ? 'above 4 GiB' : 'crosses 4 GiB';
      text(svg, marginL, y + 12, fit(svg, 'Zoom ' + (j + 1) + ' · ' + hex(base) + ' – ' + hex(end - 1) + ' (' + fmtBytes(end - base) + ') · ' + where, 'striptitle', barW), 'striptitle');
      // What the strip holds, by category, in this snapshot.
      var pages = {}, i = runAt(R, base);
      for (; i < R.count && R.start[i] * PAGE < end; i++) {
        var s = Math.max(R.start[i] * PAGE, base), e = Math.min((R.start[i] + R.length[i]) * PAGE, end);
        if (e > s && CATS[R.cat[i]].key !== 'free' && CATS[R.cat[i]].key !== 'hole') pages[R.cat[i]] = (pages[R.cat[i]] || 0) + (e - s);
      }
      var parts = [];
      for (var c in pages) parts.push({ c: Number(c), b: pages[c] });
      parts.sort(function (p, q) { return CATS[q.c].priority - CATS[p.c].priority || q.b - p.b; });
      var holds = parts.length ? 'holds ' + parts.map(function (p) { return CATS[p.c].name + ' ' + fmtBytes(p.b); }).join(', ') : 'nothing allocated in this snapshot';
      text(svg, marginL, y + 27, fit(svg, holds, 'stripnote', barW), 'stripnote');
      var g = el('g', {
        transform: 'translate(' + marginL + ',' + (y + 34) + ')', 'class': 'strip', 'data-strip': String(j),
        'data-base': String(base), 'data-end': String(end), 'data-bpp': String(bpp)
      }, svg);
      drawBar(g, snap, base, end, bpp, rowH, key, store, runAt(R, base));
      if (base < FOUR_GIB && FOUR_GIB < end) {
        var fx = (FOUR_GIB - base) / bpp;
        el('line', { x1: fx, y1: -3, x2: fx, y2: rowH + 3, stroke: '#c2255c', 'stroke-width': 3, 'class': 'four-gib', 'pointer-events': 'none' }, g);
      }
      drawAxis(svg, g, base, end, bpp, barW, rowH + 2);
      y += 34 + rowH + 24 + 10;
    }
    size(svg, width, y);
  }

  // ── registration timeline ──

  function niceStep(span, ticks) {
    var raw = span / Math.max(1, ticks), p = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10));
    var m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function fmtMs(ms, step) {
    var digits = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log(step) / Math.LN10));
    return ms.toFixed(digits);
  }

  function drawTimeline(svg, T, width) {
    clear(svg, width, 10);
    var defs = el('defs', {}, svg);
    for (var h = 0; h < T.hosts.length; h++) {
      var pat = el('pattern', { id: 'tl-hatch-' + h, width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, defs);
      el('rect', { width: 6, height: 6, fill: T.hosts[h].color, 'fill-opacity': 0.3 }, pat);
      el('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: T.hosts[h].color, 'stroke-width': 3 }, pat);
    }
    var gutter = 0;
    var rowLabel = function (r) { return T.hosts[r.h].name + ' ' + r.process; };
    var lanes = [];
    for (h = 0; h < T.hosts.length; h++) {
      var mine = T.refused.filter(function (f) { return f.h === h; });
      if (mine.length) lanes.push({ h: h, marks: mine, label: T.hosts[h].name + ' refused (expected)' });
    }
    for (var i = 0; i < T.regs.length; i++) gutter = Math.max(gutter, measure(svg, rowLabel(T.regs[i]), 'tlrow'));
    for (i = 0; i < lanes.length; i++) gutter = Math.max(gutter, measure(svg, lanes[i].label, 'tlrow'));
    gutter = Math.min(Math.ceil(gutter) + 12, Math.floor(width / 3));
    var plotL = gutter, plotW = Math.max(100, width - gutter - 12), rowH = 17, y0 = 8;
    // The axis starts at a round time before the first registration (setup comes before it).
    var t1 = Math.max(T.t1, T.t0 + 1), step = niceStep((t1 - T.t0) / 1000, Math.max(2, Math.floor(plotW / 90)));
    var startMs = Math.floor(T.t0 / 1000 / step) * step, t0 = startMs * 1000;
    step = niceStep((t1 - t0) / 1000, Math.max(2, Math.floor(plotW / 90)));
    var X = function (us) { return plotL + ((us - t0) / (t1 - t0)) * plotW; };
    var rows = lanes.length + T.regs.length, plotH = rows * rowH;
    var spanMs = t1 / 1000, axisY = y0 + plotH + 4;
    el('line', { x1: plotL, y1: axisY, x2: plotL + plotW, y2: axisY, stroke: '#52525b', 'stroke-width': 1, 'class': 'tl-axis' }, svg);
    var ticks = 0;
    for (var k = Math.ceil(startMs / step - 1e-9); k * step <= spanMs + 1e-9; k++) {
      var ms = k * step;
      var x = X(ms * 1000);
      el('line', { x1: x, y1: y0, x2: x, y2: axisY, stroke: '#f0f0f2', 'stroke-width': 1 }, svg);
      el('line', { x1: x, y1: axisY, x2: x, y2: axisY + 4, stroke: '#52525b', 'stroke-width': 1 }, svg);
      var lbl = fmtMs(ms, step), w = measure(svg, lbl, 'tick');
      text(svg, Math.min(Math.max(x - w / 2, 0), width - w), axisY + 16, lbl, 'tick tl-tick');
      ticks++;
    }
    var title = 'time in ms since tracing started (run: ' + fmtMs(spanMs, spanMs >= 10 ? 1 : 0.01) + ' ms)';
    var tw = measure(svg, title, 'tltitle');
    text(svg, Math.max(0, Math.min(plotL + plotW / 2 - tw / 2, width - tw)), axisY + 32, title, 'tltitle tl-unit');
    svg.setAttribute('data-ticks', String(ticks));
    // Refused lanes first, then one row per registration.
    var y = y0;
    for (i = 0; i < lanes.length; i++, y += rowH) {
      text(svg, 4, y + 12, fit(svg, lanes[i].label, 'tlrow', gutter - 8), 'tlrow').setAttribute('fill', T.hosts[lanes[i].h].color);
      for (var m = 0; m < lanes[i].marks.length; m++) {
        var f = lanes[i].marks[m], cx = X(f.ts), cy = y + rowH / 2;
        var tipText = '<b>' + esc(T.hosts[f.h].name) + ' · ' + esc(f.process) + '</b><div>IOCTL_SANPROXY_REGISTER_BUFFER refused (expected) at ' + (f.ts / 1000).toFixed(3) + ' ms</div><div class="dim">' + esc(T.refusedText) + '</div>';
        el('path', { d: 'M' + (cx - 4) + ' ' + (cy - 4) + 'L' + (cx + 4) + ' ' + (cy + 4) + 'M' + (cx - 4) + ' ' + (cy + 4) + 'L' + (cx + 4) + ' ' + (cy - 4),
          stroke: T.hosts[f.h].color, 'stroke-width': 2, 'class': 'refused', 'data-tip': tipText }, svg);
        el('rect', { x: cx - 5, y: cy - 5, width: 10, height: 10, fill: 'transparent', 'data-tip': tipText }, svg);
      }
    }
    for (i = 0; i < T.regs.length; i++, y += rowH) {
      var r = T.regs[i], color = T.hosts[r.h].color;
      text(svg, 4, y + 12, fit(svg, rowLabel(r), 'tlrow', gutter - 8), 'tlrow');
      var xa = X(r.start), xb = r.end === null ? plotL + plotW : X(r.end), bw = Math.max(2, xb - xa);
      var low = r.via === 'IOCTL_SANPROXY_ALLOCATE_MEMORY';
      var what = low ? 'proxy low memory (ALLOCATE_MEMORY)' : r.via === 'IOCTL_SANPROXY_REGISTER_BUFFER' ? 'user buffer in place (REGISTER_BUFFER)' : 'NIC registration';
      var tipR = '<b>' + esc(T.hosts[r.h].name) + ' · ' + esc(r.process) + '</b><div>' + esc(what) + ': ' + fmtBytes(r.bytes) + ', NIC ' + esc(r.nic) + ' handle ' + r.handle + '</div><div>registered at ' + (r.start / 1000).toFixed(3) + ' ms, ' +
        (r.end === null ? 'still registered at the end' : 'deregistered at ' + (r.end / 1000).toFixed(3) + ' ms (' + ((r.end - r.start) / 1000).toFixed(3) + ' ms)') + '</div>';
      el('rect', { x: xa.toFixed(2), y: y + 3, width: bw.toFixed(2), height: rowH - 6, fill: low ? 'url(#tl-hatch-' + r.h + ')' : color, stroke: color, 'stroke-width': 1, 'class': 'tlbar', 'data-tip': tipR }, svg);
      var label = fmtBytes(r.bytes) + (low ? ' low memory' : ' user buffer'), lw = measure(svg, label, 'tl');
      if (xb + 4 + lw <= plotL + plotW) text(svg, xb + 4, y + 12, label, 'tl');
      else if (xa - 4 - lw >= plotL) text(svg, xa - 4 - lw, y + 12, label, 'tl');
      else if (bw >= lw + 8) text(svg, xa + 4, y + 12, label, 'tl tlin');
    }
    size(svg, width, axisY + 40);
  }

  // ── hover ──

  function runLines(snap, i) {
    var R = snap.runs, own = snap.owners[R.owner[i]], out = [];
    out.push('<b>' + esc(CATS[R.cat[i]].name) + '</b>');
    out.push('pages ' + hex(R.start[i] * PAGE) + ' – ' + hex((R.start[i] + R.length[i]) * PAGE - 1) + ' (' + R.length[i] + ' pages, ' + fmtBytes(R.length[i] * PAGE) + ')');
    if (own) {
      out.push('owner: ' + esc(own.label) + ' <span class="dim">[' + esc(own.kind) + ']</span>');
      out.push('driver: ' + esc(own.driver || '—'));
    }
    if (R.state[i] === 3) {
      out.push('cache: ' + esc(CACHE[R.cache[i]] || String(R.cache[i])) + (R.locked[i] ? ' · locked (MmProbeAndLockPages)' : ''));
    }
    var notes = snap.runNotes[i];
    if (notes) for (var n = 0; n < notes.length; n++) out.push('<span class="note">' + esc(notes[n]) + '</span>');
    return out;
  }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; }); }

  function describe(key, idx) {
    var st = segStore[key];
    if (!st) return null;
    var seg = st.segs[idx], snap = st.snap;
    if (!seg) return null;
    var head = '<div class="tiph">' + esc(snap.host) + ' · ' + esc(snap.label) + '</div>';
    head += '<div>range ' + hex(seg.start) + ' – ' + hex(seg.end - 1) + ' (' + fmtBytes(seg.end - seg.start) + ')</div>';
    if (seg.first === seg.last) return head + runLines(snap, seg.first).map(function (l) { return '<div>' + l + '</div>'; }).join('');
    var byCat = {}, owners = [], R = snap.runs;
    for (var i = seg.first; i <= seg.last; i++) {
      var c = CATS[R.cat[i]].name;
      byCat[c] = (byCat[c] || 0) + R.length[i];
      var o = snap.owners[R.owner[i]];
      if (o && owners.length < 6 && owners.indexOf(o.label) < 0) owners.push(o.label);
    }
    var lines = ['<b>' + (seg.last - seg.first + 1) + ' runs narrower than a pixel</b> (shown as ' + esc(CATS[seg.cat].name) + ')'];
    for (var k in byCat) lines.push(esc(k) + ': ' + byCat[k] + ' pages');
    for (var q = 0; q < owners.length; q++) lines.push('owner: ' + esc(owners[q]));
    // Notes of the runs that gave the pixel its colour first, then the others; at most four.
    var shown = 0;
    for (var pass = 0; pass < 2 && shown < 4; pass++) {
      for (var m = seg.first; m <= seg.last && shown < 4; m++) {
        if ((R.cat[m] === seg.cat) !== (pass === 0)) continue;
        var notes = snap.runNotes[m];
        for (var z = 0; notes && z < notes.length && shown < 4; z++, shown++) lines.push('<span class="note">' + esc(notes[z]) + '</span>');
      }
    }
    return head + lines.map(function (l) { return '<div>' + l + '</div>'; }).join('');
  }

  function showTip(html, ev) {
    tip.innerHTML = html;
    tip.style.display = 'block';
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var r = tip.getBoundingClientRect();
    if (x + r.width > window.innerWidth - 4) x = Math.max(4, ev.clientX - r.width - 14);
    if (y + r.height > window.innerHeight - 4) y = Math.max(4, ev.clientY - r.height - 14);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }
  document.addEventListener('mousemove', function (ev) {
    var t = ev.target;
    if (t && t.getAttribute) {
      var key = t.getAttribute('data-map');
      if (key !== null) {
        var html = describe(key, Number(t.getAttribute('data-seg')));
        if (html) { showTip(html, ev); return; }
      }
      var plain = t.getAttribute('data-tip');
      if (plain !== null) { showTip(plain, ev); return; }
    }
    tip.style.display = 'none';
  });

  function decode(s) {
    return {
      count: s.runs.start.length, start: s.runs.start, length: s.runs.length, state: s.runs.state,
      owner: s.runs.owner, locked: s.runs.locked, cache: s.runs.cache, cat: s.runs.cat
    };
  }
  for (var h = 0; h < DATA.hosts.length; h++) {
    for (var s = 0; s < DATA.hosts[h].snapshots.length; s++) {
      var sn = DATA.hosts[h].snapshots[s];
      sn.runs = decode(sn);
    }
  }

  function drawHost(h) {
    var host = DATA.hosts[h], snap = host.snapshots[selected[h] || 0];
    var full = document.getElementById('map-' + h), focus = document.getElementById('focus-' + h);
    var width = Math.max(320, full.parentNode.clientWidth);
    drawMap(full, snap, width, 'full' + h, host.strips);
    drawFocus(focus, snap, host.strips, width, 'focus' + h);
    var tabs = document.querySelectorAll('[data-host="' + h + '"]');
    for (var i = 0; i < tabs.length; i++) tabs[i].classList.toggle('on', Number(tabs[i].getAttribute('data-snap')) === (selected[h] || 0));
  }
  function drawAll() {
    for (var h = 0; h < DATA.hosts.length; h++) drawHost(h);
    var tl = document.getElementById('timeline');
    if (tl && DATA.timeline) drawTimeline(tl, DATA.timeline, Math.max(320, tl.parentNode.clientWidth));
  }
  document.addEventListener('click', function (ev) {
    var t = ev.target;
    if (t && t.getAttribute && t.getAttribute('data-snap') !== null) {
      var h = Number(t.getAttribute('data-host'));
      selected[h] = Number(t.getAttribute('data-snap'));
      drawHost(h);
    }
  });
  var pending = 0;
  window.addEventListener('resize', function () {
    if (pending) cancelAnimationFrame(pending);
    pending = requestAnimationFrame(function () { pending = 0; drawAll(); });
  });
  for (var hh = 0; hh < DATA.hosts.length; hh++) selected[hh] = DATA.hosts[hh].initial;
  drawAll();
  document.body.setAttribute('data-ready', '1');
})();
`;
