// vigil status page: polls the agent's read-only JSON API and redraws.
"use strict";

const POLL_MS = 1000;
let phases = ["detect", "decide", "fence", "stop", "start"];

// el builds an element; children are nodes or strings (never parsed as HTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ""));
  return e;
}

function word(v, good, bad) {
  const cls = good.includes(v) ? "ok" : bad.includes(v) ? "bad" : "warn";
  return el("span", { class: cls }, v);
}

function fmtTime(s) {
  const d = new Date(s);
  if (isNaN(d) || d.getFullYear() < 2000) return "";
  const zone = Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
    .formatToParts(d).find((p) => p.type === "timeZoneName");
  return d.toLocaleString(undefined, { hour12: false }) + (zone ? " " + zone.value : "");
}

function fmtDur(ms) {
  if (ms < 1000) return Math.round(ms) + " ms";
  return (ms / 1000).toFixed(2) + " s";
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function renderStatus(st) {
  document.getElementById("cluster").textContent = st.cluster;
  const leader = st.leader || "NONE";
  const summary = document.getElementById("summary");
  summary.replaceChildren(
    "leader ", el("b", { id: "leader" }, leader), " (term " + st.term + "), quorum ",
    st.quorum ? el("span", { class: "ok", id: "quorum" }, "yes") : el("span", { class: "bad", id: "quorum" }, "NO"),
    st.maintenance ? el("span", { class: "warn" }, " — MAINTENANCE MODE") : "",
    el("span", { class: "muted" }, " · answered by " + st.node));

  fill(document.querySelector("#nodes tbody"), (st.nodes || []).map((n) =>
    el("tr", { "data-node": n.name, "data-state": n.state },
      el("td", {}, n.name + (n.leader ? " (leader)" : "")),
      el("td", {}, n.role),
      el("td", { class: "state" }, word(n.state, ["online"], ["failed", "offline", "fenced", "unknown"])),
      el("td", {}, word(n.heartbeat, ["ok"], ["lost"])),
      el("td", {}, word(n.cluster_link, ["ok"], ["lost"])))));

  fill(document.querySelector("#groups tbody"), (st.groups || []).map((g) =>
    el("tr", { "data-group": g.name, "data-node": g.node || "", "data-state": g.state },
      el("td", {}, g.name + (g.maintenance ? " [maintenance]" : "")),
      el("td", { class: "state" }, word(g.state, ["started"], ["failed", "blocked", "stopped"])),
      el("td", { class: "node" }, g.node || "—"),
      el("td", {}, (g.resources || []).map((r) => r.name + " " + r.state + (r.fail_count ? " (fail-count " + r.fail_count + ")" : "")).join(", ")),
      el("td", { class: "muted" }, g.reason || ""))));

  const fences = (st.fencing || []).slice(-10).reverse();
  fill(document.querySelector("#fencing tbody"), fences.length ? fences.map((f) =>
    el("tr", {},
      el("td", {}, fmtTime(f.time)), el("td", {}, f.target), el("td", {}, f.device),
      el("td", {}, word(f.result, ["ok"], ["failed"])),
      el("td", {}, fmtDur(f.duration / 1e6)), el("td", { class: "muted" }, f.reason + (f.error ? ": " + f.error : ""))))
    : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No fencing in the history."))]);

  const w = st.warnings || [];
  document.getElementById("warnings-box").hidden = w.length === 0;
  fill(document.getElementById("warnings"), w.map((x) => el("li", {}, x)));
}

function renderFailovers(data) {
  phases = data.phases || phases;
  document.getElementById("legend").replaceChildren(...phases.map((p) =>
    el("span", {}, el("i", { class: "phase-" + p }), p)));
  const list = (data.failovers || []).slice().reverse();
  const box = document.getElementById("timeline");
  if (!list.length) {
    box.replaceChildren(el("p", { class: "muted" }, "No failover in the history."));
    return;
  }
  box.replaceChildren(...list.map((f) => {
    const t0 = Date.parse(f.start), total = Math.max(Date.parse(f.end) - t0, 1);
    const bars = (f.phases || []).map((p) => {
      const s = Date.parse(p.start) - t0, d = Date.parse(p.end) - Date.parse(p.start);
      return el("div", {
        class: "bar phase-" + p.name, title: p.name + " " + fmtDur(d), "data-phase": p.name,
        style: "left:" + (100 * s / total).toFixed(2) + "%;width:" + (100 * d / total).toFixed(2) + "%",
      });
    });
    return el("div", { class: "failover", "data-group": f.group, "data-to": f.to },
      el("div", { class: "title" }, el("b", {}, f.group), " " + f.from + " → " + f.to + " (" + f.cause + ") in " +
        fmtDur(total) + ", done " + fmtTime(f.end)),
      el("div", { class: "bars" }, ...bars),
      el("div", { class: "phases" }, (f.phases || []).map((p) =>
        p.name + " " + fmtDur(Date.parse(p.end) - Date.parse(p.start))).join(" · ")));
  }));
}

function renderEvents(evs) {
  fill(document.getElementById("events"), (evs || []).slice().reverse().map((e) =>
    el("li", {}, fmtTime(e.time) + "  " + e.message)));
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

async function poll() {
  try {
    const [st, fo, ev] = await Promise.all([
      getJSON("/v1/status"), getJSON("/ui/failovers.json"), getJSON("/v1/history?limit=15")]);
    renderStatus(st);
    renderFailovers(fo);
    renderEvents(ev);
    document.body.classList.remove("stale");
    document.getElementById("updated").textContent = "updated " + fmtTime(new Date().toISOString());
  } catch (e) {
    document.body.classList.add("stale");
    document.getElementById("updated").textContent = "cannot reach the agent (" + e.message + "); retrying";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
