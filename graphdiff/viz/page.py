"""The page's fixed parts: stylesheet and script (no network, no libraries: one file works
offline). The script gives each panel pan (drag), zoom (wheel, buttons) and click-to-inspect,
reading the node table the page embeds as JSON. ``page.html#node=%12`` opens with a node
selected."""

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
  const rows = [['op', node.op], ['kind', node.kind], ['type', node.type],
    ['dtype', node.dtype], ['shape', '[' + node.shape.join(', ') + ']'],
    ['created at', node.location], ['inputs', node.inputs.join(', ') || '-'],
    ['users', node.users.join(', ') || '-']];
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
document.querySelectorAll('.panel').forEach(setupPanel);
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
