// LayerLab's canvas: React Flow 11 inside a Streamlit component.
//
// Why not streamlit-flow's own frontend: it sends its whole node/edge state back and Python has to guess what
// changed (a Backspace delete reached Python only with the next event, and a stale echo could bring a deleted
// node back). This canvas never owns the design: it draws what Python sends and reports what the user asked for
// as one intent per event ({kind: "delete", nodes, edges}, "connect", "move", "select", "undo", "redo",
// "create", "open"). Python applies each intent as one graph edit and sends the new drawing with a higher `rev`.
// See ui/canvas_frontend/README.md for the protocol and how to rebuild.

import React, { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import {
  ReactFlow, ReactFlowProvider, Handle, Position, BaseEdge, EdgeLabelRenderer, getBezierPath,
  applyNodeChanges, useReactFlow, useStore,
} from "@reactflow/core";
import { MiniMap } from "@reactflow/minimap";
import { Background } from "@reactflow/background";
import "reactflow/dist/style.css";
import "./canvas.css";

// ---- Streamlit's component protocol (v1), spoken directly: streamlit-component-lib bundles Apache Arrow ----
const post = (type, data) => window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
const MOUNT = Math.random().toString(36).slice(2, 8); // event ids stay unique when the canvas is remounted
let seq = 0;
const emit = (kind, data = {}) => {
  seq += 1;
  post("streamlit:setComponentValue", { value: { id: `${MOUNT}-${seq}`, kind, ...data }, dataType: "json" });
};

// ---- nodes: Python sends the face as lines of [css class, text, hover?] segments; text is never parsed as HTML ----
// A block with several outputs (an LSTM's output, h and c) has one source handle per output along its bottom edge,
// where Python puts it (the main one at the centre, where routes leave), labelled by name; a connection dragged
// from one sends that name (`sourcePort`). The main one's name sits left of it: its edge's label is on the right.
// A face is as wide as Python's layout made room for (up to a maximum); a line still too long for it ends in "…"
// and carries its whole text as its hover title, so nothing is cut out of reach.
function useOverflowTitles(face, lines) {
  useLayoutEffect(() => {
    if (!face.current) return;
    face.current.querySelectorAll(".ll-line").forEach((line) => {
      const cut = line.scrollWidth > line.clientWidth + 1;
      if (cut) line.title = line.textContent;
      else line.removeAttribute("title");
    });
  }, [face, lines]);
}

const LLNode = memo(({ data }) => {
  const face = useRef(null);
  useOverflowTitles(face, data.lines);
  return (
  <>
    {data.hasIn && <Handle type="target" position={Position.Top} isConnectable={!data.readOnly} />}
    <div className="ll-face" ref={face}>
      {data.lines.map((line, i) => (
        <div key={i} className="ll-line">
          {line.map(([cls, text, hover], j) => <span key={j} className={cls} title={hover}>{text}</span>)}
        </div>
      ))}
    </div>
    {data.hasOut && !data.outs && <Handle type="source" position={Position.Bottom} isConnectable={!data.readOnly} />}
    {data.hasOut && data.outs && data.outs.map((out) => (
      <React.Fragment key={out.id}>
        <Handle type="source" position={Position.Bottom} id={out.id} isConnectable={!data.readOnly}
                style={{ left: `${out.at}%` }} title={`output ‘${out.id}’`} />
        <span className={`ll-port${out.main ? " main" : ""}`} style={{ left: `${out.at}%` }}>{out.id}</span>
      </React.Fragment>
    ))}
  </>
  );
});

// ---- edges: Python's route (points around the blocks, label spot) while both ends stay where it put them ----
function roundedPath(points, radius = 10) {
  let d = `M ${points[0][0]} ${points[0][1]}`;
  for (let i = 1; i < points.length - 1; i += 1) {
    const [px, py] = points[i - 1], [x, y] = points[i], [nx, ny] = points[i + 1];
    const d1 = Math.hypot(x - px, y - py) || 1, d2 = Math.hypot(nx - x, ny - y) || 1;
    const r = Math.min(radius, d1 / 2, d2 / 2);
    d += ` L ${x + ((px - x) * r) / d1} ${y + ((py - y) * r) / d1}`;
    d += ` Q ${x} ${y} ${x + ((nx - x) * r) / d2} ${y + ((ny - y) * r) / d2}`;
  }
  const last = points[points.length - 1];
  return `${d} L ${last[0]} ${last[1]}`;
}

// Below this zoom an 11 px label is under 4 px on screen: not drawn, which spares a 300-node design 300 label
// boxes to lay out on every redraw (they come back when the user zooms in).
const LABEL_ZOOM = 0.35;
const labelsShown = (s) => s.transform[2] >= LABEL_ZOOM;

const samePos = (a, b) => a && b && Math.abs(a.x - b[0]) < 0.5 && Math.abs(a.y - b[1]) < 0.5;

const LLEdge = memo((props) => {
  const { id, source, target, data, markerEnd, style, selected } = props;
  const sourcePos = useStore((s) => s.nodeInternals.get(source)?.position);
  const targetPos = useStore((s) => s.nodeInternals.get(target)?.position);
  const showLabel = useStore(labelsShown);
  const routed = data.points && samePos(sourcePos, data.from) && samePos(targetPos, data.to);
  let path, lx, ly, centred = true;
  if (routed) {
    path = roundedPath(data.points);
    [lx, ly] = data.labelAt;
    centred = data.centred;
  } else {
    [path, lx, ly] = getBezierPath(props);
  }
  return (
    <>
      <BaseEdge id={id} path={path} markerEnd={markerEnd} style={style} interactionWidth={14} />
      {data.label && showLabel && (
        <EdgeLabelRenderer>
          <div className={`ll-edge-label${data.bad ? " bad" : ""}${selected ? " sel" : ""}`} data-edge={id}
               style={{ transform: `translate(${lx}px, ${ly}px) translate(${centred ? "-50%" : "0"}, -50%)` }}>
            {data.label}
          </div>
        </EdgeLabelRenderer>
      )}
    </>
  );
});

const nodeTypes = { ll: LLNode };
const VISIBLE_ONLY = 120; // nodes: a bigger design draws only the nodes and edges in view
const edgeTypes = { ll: LLEdge };

// Python sends every node of a drawing; those it did not change keep their objects here, so React Flow redraws
// only the nodes and edges that changed (a palette click redraws one node, not fifty).
function reuse(cache, items, make) {
  const next = new Map();
  const out = items.map((item) => {
    const key = JSON.stringify(item);
    const old = cache.get(item.id);
    const made = old && old.key === key ? old.made : make(item);
    next.set(item.id, { key, made });
    return made;
  });
  return [out, next];
}

const picked = (args) => new Set([args.selected, ...(args.selection || [])].filter(Boolean));

function toNodes(args, cache) {
  const chosen = picked(args);
  const [parts, next] = reuse(cache.current, args.nodes, (n) => ({
    data: { lines: n.lines, hasIn: n.in, hasOut: n.out, readOnly: args.readOnly, block: !!n.block, outs: n.outs },
    className: `ll-node ll-${n.status}${n.block ? " ll-block" : ""}${n.outs ? " ll-multi" : ""}`,
    style: { borderColor: n.colour, width: n.w || args.nodeW, height: args.nodeH },
  }));
  cache.current = next;
  return args.nodes.map((n, i) => ({
    id: n.id, type: "ll", position: { x: n.x, y: n.y }, selected: chosen.has(n.id), ...parts[i],
    // The box is fixed (nodeW × nodeH): saying so shows a new node at once, instead of hidden until measured.
    width: n.w || args.nodeW, height: args.nodeH,
    draggable: !args.readOnly, connectable: !args.readOnly, selectable: !args.readOnly, deletable: false,
  }));
}

function toEdges(args, cache) {
  const [edges, next] = reuse(cache.current, args.edges, (e) => {
    const colour = e.bad ? "#dc2626" : "#64748b";
    return {
      id: e.id, source: e.s, target: e.t, sourceHandle: e.sh || null, type: "ll", deletable: false,
      focusable: !args.readOnly,
      selectable: !args.readOnly, markerEnd: { type: "arrowclosed", color: colour },
      style: { stroke: colour, strokeWidth: e.bad ? 2 : 1.5 },
      data: { label: e.label, bad: e.bad, points: e.points, from: e.from, to: e.to, labelAt: e.labelAt,
              centred: e.centred },
    };
  });
  cache.current = next;
  return edges;
}

// ---- small menus (right click) ----
function Menu({ menu, onClose, blockNames }) {
  const [text, setText] = useState("");
  const style = { left: menu.left, top: menu.top };
  const act = (kind, data) => { emit(kind, data); onClose(); };
  if (menu.node)
    return (
      <div className="ll-menu" style={style}>
        {menu.block && <button onClick={() => act("open", { node: menu.node })}>Open ‘{menu.node}’</button>}
        <button onClick={() => act("delete", { nodes: [menu.node], edges: [] })}>Delete ‘{menu.node}’</button>
      </div>
    );
  if (menu.edge)
    return (
      <div className="ll-menu" style={style}>
        <button onClick={() => act("delete", { nodes: [], edges: [menu.edge] })}>Delete this connection</button>
      </div>
    );
  return (
    <form className="ll-menu" style={style}
          onSubmit={(ev) => { ev.preventDefault(); if (text.trim()) act("create", { text, x: menu.x, y: menu.y }); }}>
      <label>Add a block by name</label>
      <input autoFocus list="ll-blocks" value={text} onChange={(ev) => setText(ev.target.value)}
             placeholder="Conv2d, LSTM, Linear…" onKeyDown={(ev) => ev.key === "Escape" && onClose()} />
      <datalist id="ll-blocks">{blockNames.map((b) => <option key={b} value={b} />)}</datalist>
      <button type="submit">Add</button>
    </form>
  );
}

// ---- the view follows the work: fit on a new design, scroll a new block into view ----
function useViewRules(args, nodes) {
  const flow = useReactFlow();
  const done = useRef({ fit: null, focus: null, fittedAt: 0, size: null });
  const size = useStore((s) => [s.width, s.height]);
  // Ready once the pane has a size: positions and boxes come from Python, nothing needs measuring. (Waiting for
  // useNodesInitialized never ended above 120 nodes, where only the nodes in view are drawn and measured: a
  // 300-node design was never fitted and a new block never scrolled into view.)
  const ready = size[0] > 0 && size[1] > 0;
  useEffect(() => {
    if (!ready || nodes.length === 0) return;
    const resized = done.current.size && (done.current.size[0] !== size[0] || done.current.size[1] !== size[1]);
    done.current.size = size;
    // A fit is redone when the pane changes size just after it (the frame grows or shrinks to the window once the
    // page above it settled, e.g. an opened block's breadcrumb): the user hasn't looked around yet.
    if (done.current.fit !== args.fitKey || (resized && performance.now() - done.current.fittedAt < 2000)) {
      done.current.fit = args.fitKey;
      done.current.focus = args.focusKey; // a fitted view shows the focused node already
      done.current.fittedAt = performance.now();
      fitAll(flow, args, size);
      return;
    }
    if (args.focusKey && done.current.focus !== args.focusKey) {
      done.current.focus = args.focusKey;
      const node = args.nodes.find((n) => n.id === args.focus); // where Python put it, drawn or not yet
      if (!node) return;
      const { x, y, zoom } = flow.getViewport();
      const [w, h] = size, m = 24;
      const left = node.x * zoom + x, top = node.y * zoom + y;
      const right = left + (node.w || args.nodeW) * zoom, bottom = top + args.nodeH * zoom;
      let dx = 0, dy = 0;
      if (left < m) dx = m - left; else if (right > w - m) dx = w - m - right;
      if (top < m) dy = m - top; else if (bottom > h - m) dy = h - m - bottom;
      // A big design draws only the nodes in view: a new block there appears once the view reaches it, so the
      // view jumps instead of gliding (150 ms of frames of 300 nodes on a busy machine).
      const duration = args.nodes.length > VISIBLE_ONLY ? 0 : 150;
      if (dx || dy) flow.setViewport({ x: x + dx, y: y + dy, zoom }, { duration });
    }
  }, [ready, args.fitKey, args.focusKey, args.rev, size[0], size[1]]);
}

// Fit nodes and routes (an edge to the next column runs above the first layer), never zooming past 100 %.
function fitAll(flow, args, [w, h]) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const grow = (x, y) => { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); };
  args.nodes.forEach((n) => { grow(n.x, n.y); grow(n.x + (n.w || args.nodeW), n.y + args.nodeH); });
  args.edges.forEach((e) => (e.points || []).forEach(([x, y]) => grow(x, y - 10)));
  const pad = 1 + 2 * args.fitPadding;
  const zoom = Math.max(args.minZoom, Math.min(1, w / ((x1 - x0) * pad), h / ((y1 - y0) * pad)));
  flow.setViewport({ x: (w - (x1 - x0) * zoom) / 2 - x0 * zoom, y: (h - (y1 - y0) * zoom) / 2 - y0 * zoom, zoom });
}

// ---- the canvas ----
function Canvas({ args }) {
  const nodeCache = useRef(new Map()), edgeCache = useRef(new Map());
  const [nodes, setNodes] = useState(() => toNodes(args, nodeCache));
  const [edges, setEdges] = useState(() => toEdges(args, edgeCache));
  const [menu, setMenu] = useState(null);
  const rev = useRef(args.rev);
  const wrapper = useRef(null);
  const flow = useReactFlow();
  useEffect(() => { // a new drawing from Python replaces whatever the canvas showed (optimistic edits too)
    if (rev.current === args.rev) return;
    rev.current = args.rev;
    setNodes(toNodes(args, nodeCache));
    setEdges(toEdges(args, edgeCache));
  }, [args.rev]);
  const selectedKey = [...picked(args)].join("\n");
  useEffect(() => { // Python chose the selection without a new drawing (an issue clicked, a node renamed)
    const chosen = picked(args);
    setNodes((ns) => ns.map((n) => (n.selected === chosen.has(n.id) ? n : { ...n, selected: chosen.has(n.id) })));
  }, [selectedKey]);
  useViewRules(args, nodes);

  const onNodesChange = useCallback((changes) => {
    const kept = changes.filter((c) => c.type === "position" || c.type === "dimensions" || c.type === "select");
    setNodes((ns) => applyNodeChanges(kept, ns));
  }, []);
  const onEdgesChange = useCallback((changes) => {
    setEdges((es) => es.map((e) => {
      const c = changes.find((ch) => ch.type === "select" && ch.id === e.id);
      return c ? { ...e, selected: c.selected } : e;
    }));
  }, []);
  const deleteSelected = useCallback(() => {
    const gone = new Set(nodes.filter((n) => n.selected).map((n) => n.id));
    const lines = edges.filter((e) => e.selected && !gone.has(e.source) && !gone.has(e.target)).map((e) => e.id);
    if (!gone.size && !lines.length) return;
    setNodes((ns) => ns.filter((n) => !gone.has(n.id))); // shown at once; Python's next drawing confirms it
    setEdges((es) => es.filter((e) => !lines.includes(e.id) && !gone.has(e.source) && !gone.has(e.target)));
    emit("delete", { nodes: [...gone], edges: lines });
  }, [nodes, edges]);

  useEffect(() => {
    if (args.readOnly) return undefined;
    const onKey = (ev) => {
      if (ev.target.closest && ev.target.closest("input, textarea")) return;
      const mod = ev.ctrlKey || ev.metaKey, key = ev.key.toLowerCase();
      if (ev.key === "Delete" || ev.key === "Backspace") { ev.preventDefault(); deleteSelected(); }
      else if (mod && key === "z" && !ev.shiftKey) { ev.preventDefault(); emit("undo"); }
      else if (mod && ((key === "z" && ev.shiftKey) || key === "y")) { ev.preventDefault(); emit("redo"); }
      else if (ev.key === "Escape") {
        setMenu(null);
        setNodes((ns) => ns.map((n) => (n.selected ? { ...n, selected: false } : n)));
        setEdges((es) => es.map((e) => (e.selected ? { ...e, selected: false } : e)));
        const had = chosen.current.length > 0 || nodes.some((n) => n.selected);
        chosen.current = [];
        // Python's selection may not have reached this frame yet (a click just before): what is shown counts too.
        if (had || args.selected || (args.selection || []).length) emit("select", { node: null });
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [deleteSelected, nodes, args.readOnly, args.selected, args.selection]);

  // Python's render messages come on every rerun of the page, most of them changing nothing here: handlers that
  // stay the same object keep React Flow from redrawing every node in view and the minimap's 300 nodes each time.
  const live = useRef(args);
  live.current = args;
  const menuAt = useCallback((ev) => {
    ev.preventDefault();
    const box = wrapper.current.getBoundingClientRect();
    return { left: Math.min(ev.clientX - box.left, box.width - 230), top: Math.min(ev.clientY - box.top, box.height - 110) };
  }, []);
  const onConnect = useCallback((c) => {
    if (c.source === c.target) return;
    setEdges((es) => [...es, { id: `new-${c.source}-${c.sourceHandle || ""}-${c.target}`, source: c.source,
                                sourceHandle: c.sourceHandle, target: c.target, style: { strokeDasharray: "4 3" },
                                deletable: false }]);
    emit("connect", { source: c.source, target: c.target, ...(c.sourceHandle ? { sourcePort: c.sourceHandle } : {}) });
  }, []);
  const onNodeDragStop = useCallback((_ev, _node, dragged) => {
    emit("move", { positions: Object.fromEntries(dragged.map((n) => [n.id, [n.position.x, n.position.y]])) });
  }, []);
  // Several nodes selected together, for "Group into a block": Shift/Ctrl/Cmd+click toggles a node, Shift+drag on
  // the pane selects a box. The click's own modifier keys decide (not React Flow's key listener, which misses a
  // Shift pressed while the page outside this frame had the focus); Python hears the set once per change.
  const chosen = useRef([]);
  useEffect(() => {
    chosen.current = (args.selection || []).length ? [...args.selection] : args.selected ? [args.selected] : [];
  }, [args.rev, args.selected, args.selection]);
  const report = useCallback((ids) => {
    chosen.current = ids;
    setNodes((ns) => ns.map((n) => (n.selected === ids.includes(n.id) ? n : { ...n, selected: ids.includes(n.id) })));
    if (ids.length > 1) emit("select", { node: null, nodes: [...ids].sort() });
    else emit("select", { node: ids[0] || null });
  }, []);
  const toggle = useCallback((id) => {
    const was = chosen.current;
    report(was.includes(id) ? was.filter((x) => x !== id) : [...was, id]);
  }, [report]);
  const onSelectionEnd = useCallback(() => {
    const ids = flow.getNodes().filter((n) => n.selected).map((n) => n.id);
    if (ids.length > 1) report(ids);
  }, [flow, report]);
  const ro = args.readOnly;
  const onNodeClick = useCallback((ev, n) => {
    setMenu(null);
    if (many(ev)) { toggle(n.id); return; }
    chosen.current = [n.id];
    const now = live.current;
    if (n.id !== now.selected || (now.selection || []).length) emit("select", { node: n.id });
  }, [toggle]);
  const onNodeDoubleClick = useCallback((_e, n) => { if (n.data.block) emit("open", { node: n.id }); }, []);
  const closeMenu = useCallback(() => setMenu(null), []);
  const onPaneClick = useCallback(() => {
    setMenu(null);
    const had = chosen.current.length > 0;
    chosen.current = [];
    const now = live.current;
    if (had || now.selected || (now.selection || []).length) emit("select", { node: null });
  }, []);
  const onNodeContextMenu = useCallback((ev, n) => setMenu({ ...menuAt(ev), node: n.id, block: n.data.block }), [menuAt]);
  const onEdgeContextMenu = useCallback((ev, e) => setMenu({ ...menuAt(ev), edge: e.id }), [menuAt]);
  const onPaneContextMenu = useCallback((ev) => setMenu({ ...menuAt(ev), ...xy(flow, ev) }), [menuAt, flow]);

  return (
    <div ref={wrapper} className="ll-canvas" style={{ height: args.height }} tabIndex={0}>
      <ReactFlow
        nodes={nodes} edges={edges} nodeTypes={nodeTypes} edgeTypes={edgeTypes}
        onNodesChange={onNodesChange} onEdgesChange={onEdgesChange}
        onConnect={ro ? undefined : onConnect} onNodeDragStop={ro ? undefined : onNodeDragStop}
        onNodeClick={ro ? undefined : onNodeClick}
        onNodeDoubleClick={ro ? undefined : onNodeDoubleClick}
        onSelectionEnd={ro ? undefined : onSelectionEnd}
        onEdgeClick={closeMenu}
        onPaneClick={onPaneClick}
        onNodeContextMenu={ro ? undefined : onNodeContextMenu}
        onEdgeContextMenu={ro ? undefined : onEdgeContextMenu}
        onPaneContextMenu={ro ? undefined : onPaneContextMenu}
        deleteKeyCode={null} selectionKeyCode={ro ? null : "Shift"} multiSelectionKeyCode={null}
        nodesDraggable={!ro} nodesConnectable={!ro} elementsSelectable={!ro}
        minZoom={args.minZoom} maxZoom={2} onlyRenderVisibleElements={nodes.length > VISIBLE_ONLY}
        proOptions={PRO_OPTIONS} zoomOnDoubleClick={false}>
        <Background gap={24} size={1} />
        {args.minimap && <MiniMap pannable zoomable style={MINIMAP_STYLE} nodeColor={minimapColour} />}
      </ReactFlow>
      {menu && <Menu menu={menu} onClose={() => setMenu(null)} blockNames={args.blockNames || []} />}
    </div>
  );
}

const many = (ev) => ev.shiftKey || ev.metaKey || ev.ctrlKey;
// Constants, not literals in the JSX: a new object on each render redraws what takes it (the minimap's nodes).
const PRO_OPTIONS = { hideAttribution: true };
const MINIMAP_STYLE = { width: 140, height: 96, opacity: 0.85 };
const minimapColour = (n) => n.style?.borderColor || "#94a3b8";

function xy(flow, ev) {
  const p = flow.screenToFlowPosition({ x: ev.clientX, y: ev.clientY });
  return { x: p.x, y: p.y };
}

// ---- the canvas fills the window below its own top edge (the page scrolls for the rest) ----
function frameHeight(args) {
  if (!args.fill) return args.height;
  try {
    const top = window.frameElement.getBoundingClientRect().top;
    return Math.max(args.height, Math.round(window.parent.innerHeight - top - args.fill));
  } catch (err) {
    return args.height; // not same-origin (never in Streamlit): keep the fixed height
  }
}

// Python leaves out `nodes` and `edges` (null) when this canvas holds that `rev` already. A canvas mounted afresh
// that gets no drawing asks for one, once per rev.
function useDrawing(render) {
  const drawing = useRef({ rev: null, nodes: [], edges: [] });
  const asked = useRef(null);
  if (render && render.nodes) drawing.current = { rev: render.rev, nodes: render.nodes, edges: render.edges };
  const missing = !!render && !render.nodes && drawing.current.rev !== render.rev;
  useEffect(() => {
    if (missing && asked.current !== render.rev) { asked.current = render.rev; emit("resend"); }
  });
  return missing ? null : drawing.current;
}

function App() {
  const [render, setRender] = useState(null);
  const [height, setHeight] = useState(null);
  const drawing = useDrawing(render);
  useEffect(() => {
    const onMessage = (ev) => { if (ev.data && ev.data.type === "streamlit:render") setRender(ev.data.args); };
    window.addEventListener("message", onMessage);
    post("streamlit:componentReady", { apiVersion: 1 });
    return () => window.removeEventListener("message", onMessage);
  }, []);
  useEffect(() => {
    if (!render) return undefined;
    const fit = () => setHeight(frameHeight(render));
    fit();
    // Measured again once the page above has drawn this run's changes (a breadcrumb appears when a block opens
    // and moves the canvas down: measured only once, the canvas ran past the window's bottom).
    const later = setTimeout(fit, 120);
    window.parent.addEventListener("resize", fit);
    return () => { clearTimeout(later); window.parent.removeEventListener("resize", fit); };
  }, [render && render.height, render && render.fill, render && render.fitKey]); // a new design or block: the page above may have changed
  useEffect(() => { if (height) post("streamlit:setFrameHeight", { height }); }, [height]);
  if (!render || !height || !drawing) return null;
  return (
    <ReactFlowProvider>
      <Canvas args={{ ...render, nodes: drawing.nodes, edges: drawing.edges, height }} />
    </ReactFlowProvider>
  );
}

createRoot(document.getElementById("root")).render(<App />);
