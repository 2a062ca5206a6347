"""The page's fixed parts: stylesheet and script (no network, no libraries: one file works
offline). The script gives each panel pan (drag), zoom (wheel, buttons) and click-to-inspect,
reading the node table the page embeds as JSON. ``page.html#node=%12`` opens with a node
selected. Clicking a region's title strip folds the cluster to that strip: the rows below move
up by the rule of ``layout.place`` (the page embeds the rows), and edges into the folded cluster
end at its strip."""

CSS = """
body{margin:0;font-family:Helvetica,Arial,sans-serif;font-size:13px;color:#222;
 display:flex;flex-direction:column;height:100vh}
header{padding:8px 12px;border-bottom:1px solid #ddd;display:flex;gap:18px;align-items:center;
 flex-wrap:wrap}
header h1{font-size:16px;margin:0}
.legend span{display:inline-flex;align-items:center;gap:4px;margin-right:10px}
.legend i{display:inline-block;width:14px;height:11px;border-radius:3px;border:1.5px solid}
main{flex:1;display:flex;min-height:0}
#panels{flex:1;display:flex;gap:6px;padding:6px;min-width:0;overflow-x:auto}
.panel{flex:1;min-width:320px;display:flex;flex-direction:column;border:1px solid #ccc;
 border-radius:6px;background:#fafafa}
.panel h2{font-size:13px;margin:0;padding:5px 8px;border-bottom:1px solid #ddd;display:flex;
 justify-content:space-between;align-items:center}
.panel h2 button{font-size:12px;margin-left:3px;cursor:pointer}
.panel svg{flex:1;width:100%;cursor:grab;background:white;user-select:none}
.panel svg.dragging{cursor:grabbing}
.node{cursor:pointer}.node:hover rect{filter:brightness(0.95)}
.node.selected rect{stroke:#d69e2e !important;stroke-width:3.5px !important}
.cluster-title:hover rect{filter:brightness(0.93)}
aside{width:330px;border-left:1px solid #ddd;padding:10px;overflow:auto}
aside h3{margin:4px 0 8px;font-size:14px}
aside table{border-collapse:collapse;width:100%}
aside td{padding:2px 4px;vertical-align:top;border-bottom:1px solid #eee;word-break:break-all}
aside td:first-child{color:#666;width:70px}
aside code{font-size:12px}
#memory{border-top:1px solid #ddd;padding:6px 12px;max-height:260px;overflow:auto}
#memory .charts{display:flex;gap:16px;flex-wrap:wrap}
#memory svg{background:white}
.bar{cursor:pointer}.bar:hover rect{fill:#d69e2e}
pre.text{font-size:11px;background:#f6f6f6;padding:6px;max-height:240px;overflow:auto}
pre.text .hl{background:#fde68a}
"""

SCRIPT = """
const DATA = JSON.parse(document.getElementById('graph-data').textContent);
function esc(s){return String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;',
 '"':'&quot;'}[c]));}
function setupPanel(panel){
  const svg = panel.querySelector('svg');
  const full = svg.viewBox.baseVal;
  const view = {x: full.x, y: full.y, w: full.width, h: full.height};
  const apply = () => svg.setAttribute('viewBox', `${view.x} ${view.y} ${view.w} ${view.h}`);
  panel.zoom = (factor, cx, cy) => {
    cx = cx === undefined ? view.x + view.w / 2 : cx;
    cy = cy === undefined ? view.y + view.h / 2 : cy;
    view.x = cx - (cx - view.x) * factor; view.y = cy - (cy - view.y) * factor;
    view.w *= factor; view.h *= factor; apply();
  };
  panel.pan = (dx, dy) => { view.x -= dx; view.y -= dy; apply(); };
  panel.reset = () => { Object.assign(view, {x: full.x, y: full.y, w: full.width,
    h: full.height}); apply(); };
  panel.view = view;
  const toView = (event) => {
    const r = svg.getBoundingClientRect();
    const s = Math.max(view.w / Math.max(r.width, 1), view.h / Math.max(r.height, 1));
    return {s, x: view.x + (event.clientX - r.left) * s, y: view.y + (event.clientY - r.top) * s};
  };
  svg.addEventListener('wheel', (event) => {
    event.preventDefault();
    const p = toView(event);
    panel.zoom(event.deltaY > 0 ? 1.15 : 1 / 1.15, p.x, p.y);
  }, {passive: false});
  let drag = null;
  svg.addEventListener('mousedown', (event) => {
    drag = {x: event.clientX, y: event.clientY}; svg.classList.add('dragging');
  });
  window.addEventListener('mousemove', (event) => {
    if (!drag) return;
    const s = toView(event).s;
    panel.pan((event.clientX - drag.x) * s, (event.clientY - drag.y) * s);
    drag.x = event.clientX; drag.y = event.clientY;
  });
  window.addEventListener('mouseup', () => { drag = null; svg.classList.remove('dragging'); });
  panel.querySelectorAll('button[data-zoom]').forEach(b => b.addEventListener('click', () => {
    const f = b.dataset.zoom; if (f === 'reset') panel.reset(); else panel.zoom(Number(f)); }));
  panel.querySelectorAll('g.node').forEach(g => g.addEventListener('click', (event) => {
    event.stopPropagation();
    select(Number(panel.dataset.panel), Number(g.dataset.node));
  }));
}
function select(panelIndex, nodeIndex){
  const node = DATA.panels[panelIndex].nodes[nodeIndex];
  document.querySelectorAll('g.node.selected').forEach(g => g.classList.remove('selected'));
  const g = document.querySelector(
    `.panel[data-panel="${panelIndex}"] g.node[data-node="${nodeIndex}"]`);
  if (g) g.classList.add('selected');
  // a node with several results (a loop, a branch) has a type but no dtype or shape
  const rows = [['op', node.op], ['kind', node.kind], ['type', node.type],
    ['dtype', node.dtype], ['shape', node.shape && '[' + node.shape.join(', ') + ']'],
    ['created at', node.location], ['inputs', node.inputs.join(', ') || '-'],
    ['users', node.users.join(', ') || '-']].filter(([k, v]) => v !== null);
  if (node.operand) rows.push(['operand', node.operand]);
  if (node.user_name) rows.splice(1, 0, ['name', node.user_name]);
  if (node.output) rows.push(['output', node.output]);
  for (const [k, v] of Object.entries(node.attrs)) rows.push(['attr ' + k, v]);
  document.getElementById('details').innerHTML = `<h3>${esc(node.name)}</h3><table>` +
    rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td class="f-${esc(k.replace(/ /g, '-'))}">` +
    `${esc(v)}</td></tr>`).join('') + `</table><p><code>${esc(node.text)}</code></p>` +
    (node.body ? `<pre class="body">${esc(node.body.join('\\n'))}</pre>` : '');
  document.querySelectorAll('pre.text .hl').forEach(e => e.classList.remove('hl'));
  const line = document.querySelector(
    `pre.text[data-panel="${panelIndex}"] span[data-name="${CSS.escape(node.name)}"]`);
  if (line) { line.classList.add('hl'); line.scrollIntoView({block: 'nearest'}); }
}
function setupClusters(panel){
  const G = DATA.panels[Number(panel.dataset.panel)].geometry;
  const els = {}, drawn = {}, x = {}, pos = {}, shut = new Set();
  panel.querySelectorAll('[data-key]').forEach(e => { els[e.dataset.key] = e; });
  (function index(level) {
    for (const row of level.rows) for (const b of row) {
      drawn[b.key] = b.y; x[b.key] = b.x;
      for (const c of b.clusters) {
        drawn['block:' + c.block] = c.y; x['block:' + c.block] = c.x; index(c);
      }
    }
  })(G.root);
  // a box moves to y with height h; inside a folded cluster (rep: its key) it hides
  function show(key, y, h, rep) {
    pos[key] = {key: rep || key, y, h};
    const e = els[key];
    e.style.display = rep ? 'none' : '';
    e.setAttribute('transform', `translate(0,${y - drawn[key]})`);
    const frame = e.querySelector(':scope > rect.frame');
    if (frame) frame.setAttribute('height', h.toFixed(1));
  }
  function place(level, top, rep) {  // layout.py's place(), folding included
    let y = top;
    for (const row of level.rows) {
      let tallest = G.box;
      for (const b of row) {
        let bottom = y + G.box;
        for (const c of b.clusters) {
          bottom = Math.max(bottom, placeCluster(c, y + G.box + G.pad, rep) + G.pad);
        }
        show(b.key, y, bottom - y, rep);
        tallest = Math.max(tallest, bottom - y);
      }
      y += tallest + G.gap;
    }
    return y - G.gap;
  }
  function placeCluster(c, top, rep) {
    const key = 'block:' + c.block, folded = shut.has(c.block);
    const bottom = place(c, top + G.title + G.pad, rep || (folded ? key : null)) + G.pad;
    const end = folded ? top + G.title : bottom;
    show(key, top, end - top, rep);
    return end;
  }
  function redraw() {
    place(G.root, G.margin, null);
    panel.querySelectorAll('path.edge').forEach(path => {
      const a = pos[pos[path.dataset.from].key], b = pos[pos[path.dataset.to].key];
      path.style.display = a === b ? 'none' : '';  // both ends folded into one cluster
      const x1 = x[a.key], y1 = a.y + a.h, x2 = x[b.key], y2 = b.y;  // layout.py's _edge
      const bend = Math.max(12, (y2 - y1) / 2), f = (v) => v.toFixed(1);
      path.setAttribute('d', `M${f(x1)},${f(y1)} C${f(x1)},${f(y1 + bend)} ` +
        `${f(x2)},${f(y2 - bend)} ${f(x2)},${f(y2 - 2)}`);
    });
  }
  panel.querySelectorAll('g.cluster > .cluster-title').forEach(t => t.addEventListener('click',
    (event) => {
      event.stopPropagation();
      const block = Number(t.parentNode.dataset.block);
      if (shut.has(block)) shut.delete(block); else shut.add(block);
      t.parentNode.classList.toggle('folded', shut.has(block));
      t.querySelector('.fold').textContent = shut.has(block) ? '\u25b8' : '\u25be';
      redraw();
    }));
}
document.querySelectorAll('.panel').forEach(setupPanel);
document.querySelectorAll('.panel').forEach(setupClusters);
// a bar of the memory view selects the node its step computes (in the last panel)
function selectByName(name) {
  const last = DATA.panels.length - 1;
  const index = DATA.panels[last].nodes.findIndex(n => n.name === name);
  if (index >= 0) select(last, index);
}
document.querySelectorAll('#memory g.bar').forEach(bar => bar.addEventListener('click',
  () => selectByName(bar.dataset.name)));
// page.html#node=%2512 (or #node=%12) selects that node of the last panel: a link to a node
let wanted = location.hash.slice(1);
try { wanted = decodeURIComponent(wanted); } catch (error) { /* a raw "%3" is no escape */ }
if (wanted.startsWith('node=')) selectByName(wanted.slice(5));
"""
