/**
 * The report's in-page script (plain browser JavaScript, embedded inline: the report loads
 * nothing from the network). It draws each host's map from the embedded runs as SVG, redraws
 * on resize, and shows hover details.
 *
 * Implementation notes
 * - The address space is wrapped into rows of a fixed number of bytes (a power of two), so the
 *   map is to scale and a row boundary falls on 4 GiB.
 * - Runs are clipped to rows and turned into segments left to right. A run narrower than a
 *   pixel is merged with the runs that start in the same pixel; the merged pixel takes the
 *   colour of the highest-priority category inside it (see categories.ts) and its hover lists
 *   what it holds. So the drawing is O(runs + pixels), whatever the RAM size.
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
    if (n >= GIB && n % (GIB / 64) === 0) return (n / GIB).toFixed(n % GIB === 0 ? 0 : 2) + ' GiB';
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
  function text(parent, x, y, s, cls) {
    var t = el('text', { x: x, y: y, 'class': cls || 'lbl' }, parent);
    t.textContent = s;
    return t;
  }
  function pickRowBytes(span, maxRows) {
    var r = 64 * MIB;
    while (Math.ceil(span / r) > maxRows) r *= 2;
    return r;
  }

  // Segments of one row [a, b) at bytesPerPx; runs from index i0 on. Returns {segs, next}.
  function rowSegments(snap, a, b, bpp, i0) {
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

  function drawMap(svg, snap, base, end, maxRows, width, key) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var rowBytes = pickRowBytes(end - base, maxRows);
    var rows = Math.ceil((end - base) / rowBytes);
    var labelW = 86, barW = Math.max(120, width - labelW - 8), rowH = 20, gap = 6;
    var bpp = rowBytes / barW;
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(rows * (rowH + gap) + 8));
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + (rows * (rowH + gap) + 8));
    var defs = el('defs', {}, svg);
    var pat = el('pattern', { id: key + '-hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, defs);
    el('rect', { width: 6, height: 6, fill: CATS[0].color }, pat);
    el('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: '#a1a1aa', 'stroke-width': 2 }, pat);
    var store = [];
    segStore[key] = { snap: snap, segs: store };
    var i0 = 0, drawn = 0;
    for (var r = 0; r < rows; r++) {
      var a = base + r * rowBytes, b = Math.min(a + rowBytes, end);
      var y = 4 + r * (rowH + gap);
      text(svg, labelW - 6, y + 14, hex(a), 'addr');
      var g = el('g', { transform: 'translate(' + labelW + ',' + y + ')' }, svg);
      var rs = rowSegments(snap, a, b, bpp, i0);
      i0 = rs.next;
      // Widened markers are drawn last so their neighbours do not cover them.
      var order = rs.segs.slice().sort(function (p, q) {
        return (p.x1 - p.x0 < 3 && CATS[p.cat].priority >= 7 ? 1 : 0) - (q.x1 - q.x0 < 3 && CATS[q.cat].priority >= 7 ? 1 : 0);
      });
      for (var s = 0; s < order.length; s++) {
        var seg = order[s];
        // RDMA memory and locked pages stay visible on a huge map: at least 3 px wide.
        var w = Math.max(CATS[seg.cat].priority >= 7 ? 3 : 1, seg.x1 - seg.x0);
        var isHole = CATS[seg.cat].key === 'hole';
        el('rect', {
          x: Math.max(0, Math.min(seg.x0, (b - a) / bpp - w)).toFixed(2), y: 0, width: w.toFixed(2), height: rowH,
          fill: isHole ? 'url(#' + key + '-hatch)' : CATS[seg.cat].color,
          'class': 'blk', 'data-map': key, 'data-seg': String(store.length)
        }, g);
        store.push(seg);
        drawn++;
      }
      if (b - a < rowBytes) el('rect', { x: ((b - a) / bpp).toFixed(2), y: 0, width: (barW - (b - a) / bpp).toFixed(2), height: rowH, fill: 'none', stroke: '#e4e4e7', 'stroke-dasharray': '3 3' }, g);
      el('rect', { x: 0, y: 0, width: ((b - a) / bpp).toFixed(2), height: rowH, fill: 'none', stroke: '#3f3f46', 'stroke-width': 0.5, 'pointer-events': 'none' }, g);
      // The 4 GiB line: 32-bit DMA reaches only what lies left of / above it.
      if (FOUR_GIB >= a && FOUR_GIB < a + rowBytes && FOUR_GIB <= end && FOUR_GIB > base) {
        var fx = (FOUR_GIB - a) / bpp;
        el('line', { x1: fx, y1: -4, x2: fx, y2: rowH + 3, stroke: '#c2255c', 'stroke-width': 3, 'class': 'four-gib', 'pointer-events': 'none' }, g);
        text(g, fx + 4, -1, '4 GiB: 32-bit DMA limit', 'fourlbl');
      }
    }
    var hole = snap.layout.mmioHole;
    if (hole.length > 0 && hole.base >= base && hole.base < end) {
      var hr = Math.floor((hole.base - base) / rowBytes), hx = ((hole.base - base) % rowBytes) / bpp;
      text(svg, labelW + hx + 6, 4 + hr * (rowH + gap) + 14, 'MMIO hole', 'holelbl');
    }
    svg.setAttribute('data-segments', String(drawn));
  }

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
    var full = document.getElementById('map-' + h), zoom = document.getElementById('zoom-' + h);
    var width = Math.max(320, full.parentNode.clientWidth);
    drawMap(full, snap, 0, snap.layout.topOfMemory, 16, width, 'full' + h);
    drawMap(zoom, snap, 0, Math.min(FOUR_GIB, snap.layout.topOfMemory), 16, width, 'zoom' + h);
    var tabs = document.querySelectorAll('[data-host="' + h + '"]');
    for (var i = 0; i < tabs.length; i++) tabs[i].classList.toggle('on', Number(tabs[i].getAttribute('data-snap')) === (selected[h] || 0));
  }
  function drawAll() { for (var h = 0; h < DATA.hosts.length; h++) drawHost(h); }
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
