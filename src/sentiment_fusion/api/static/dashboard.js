// The live monitor: polls GET /v1/monitor and, when its version changes, reads the insights
// (/v1/insights/summary, trends, terms, examples and /v1/monitor/alerts) and redraws.
// Everything is built with textContent / createElement: no post text is ever parsed as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const LABELS = ["negative", "neutral", "positive"];
const state = { key: null, version: null, timer: null, pollMs: 2000, refreshes: 0 };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);
const signed = (x, digits = 2) => (x === null || x === undefined ? "–" : `${x >= 0 ? "+" : ""}${x.toFixed(digits)}`);
const day = (iso) => (iso ? iso.slice(0, 16).replace("T", " ").replace(/ 00:00$/, "") : "");

function readKey() {
  const params = new URLSearchParams(location.hash.slice(1));
  const fromHash = params.get("key");
  if (fromHash) {
    sessionStorage.setItem("sf-key", fromHash);
    params.delete("key");
    history.replaceState(null, "", location.pathname + location.search + (params.toString() ? `#${params}` : ""));
  }
  state.key = sessionStorage.getItem("sf-key");
}

class AuthError extends Error {}

async function api(path) {
  const headers = state.key ? { "X-API-Key": state.key } : {};
  const response = await fetch(path, { headers, cache: "no-store" });
  if (response.status === 401 || response.status === 403) throw new AuthError(`HTTP ${response.status}`);
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body && body.error ? `${body.error.code}: ${body.error.message}` : response.statusText;
    throw new Error(`HTTP ${response.status} ${error}`);
  }
  return body;
}

async function poll() {
  clearTimeout(state.timer);
  try {
    const status = await api("/v1/monitor");
    state.pollMs = Math.max(200, 1000 * status.poll_s);
    if (status.version !== state.version) {
      await refresh(status);
      state.version = status.version;
    }
    $("error").hidden = true;
    $("key-form").hidden = true;
  } catch (error) {
    if (error instanceof AuthError) {
      $("key-form").hidden = false;
      $("error").textContent = state.key ? "The API key was refused." : "";
      $("error").hidden = !state.key;
      return; // wait for a key
    }
    $("error").textContent = `Cannot reach the monitor: ${error.message}. Retrying…`;
    $("error").hidden = false;
  }
  state.timer = setTimeout(poll, state.pollMs);
}

async function refresh(status) {
  const period = `period=${encodeURIComponent(status.period)}`;
  const [summary, trends, alerts, terms, examples] = await Promise.all([
    api("/v1/insights/summary"),
    api(`/v1/insights/trends?${period}`),
    api(`/v1/monitor/alerts?${period}&limit=20`),
    api("/v1/insights/terms?k=8"),
    api("/v1/insights/examples?k=2"),
  ]);
  $("total").textContent = String(status.posts);
  $("period").textContent = status.period;
  $("alert-count").textContent = String(alerts.alerts.length);
  $("updated").textContent = new Date().toLocaleTimeString();
  $("empty").hidden = summary.rows.length > 0;
  const by = (rows, brand) => rows.filter((r) => r.brand === brand);
  const cards = summary.rows.map((row) =>
    card(row, by(trends.rows, row.brand), by(alerts.alerts, row.brand), by(terms.rows, row.brand), by(examples.rows, row.brand))
  );
  $("brands").replaceChildren(...cards);
  focus();
  state.refreshes += 1;
  document.body.dataset.version = status.version;
}

function card(row, series, alerts, terms, examples) {
  const shares = el("div", { class: "shares", title: "negative / neutral / positive" });
  for (const label of LABELS) {
    const part = el("span", { class: label, title: `${label} ${pct(row[label])}` });
    part.style.width = `${100 * (row[label] || 0)}%`;
    shares.append(part);
  }
  const section = el(
    "section",
    { class: `brand${alerts.length ? " alerting" : ""}`, "data-brand": row.brand },
    el("h2", {}, row.brand),
    el(
      "div",
      { class: "figures" },
      figure("posts", String(row.posts), "posts"),
      figure("net", signed(row.net), `net sentiment [${signed(row.net_lo)}, ${signed(row.net_hi)}]`),
      figure("negative", pct(row.negative), "negative"),
      figure("positive", pct(row.positive), "positive")
    ),
    shares,
    el("div", { class: "legend" }, ...LABELS.map((l) => el("span", { class: l }, `${l} ${pct(row[l])}`))),
    el("h3", {}, "Net sentiment (95% interval) and volume"),
    chart(series, new Set(alerts.map((a) => a.period)))
  );
  if (alerts.length) {
    // one item per period: its two tests (negative share, net sentiment) share the drivers
    const periods = new Map();
    for (const alert of alerts) periods.set(alert.period, [...(periods.get(alert.period) || []), alert]);
    section.append(
      el("h3", {}, `Alerts (${periods.size} ${periods.size === 1 ? "period" : "periods"})`),
      el("ul", { class: "alerts" }, ...[...periods.values()].map(alertItem))
    );
  }
  for (const side of ["negative", "positive"]) {
    const words = terms.filter((t) => t.sentiment === side);
    if (words.length) {
      section.append(
        el("h3", {}, `Words of ${side} posts`),
        el("ul", { class: `chips ${side}` }, ...words.map((t) => el("li", { title: `z = ${t.zeta.toFixed(1)}` }, t.term)))
      );
    }
  }
  if (examples.length) {
    section.append(
      el("h3", {}, "Example posts"),
      el("ul", { class: "examples" }, ...examples.map((e) => el("li", { "data-post": e.post_id }, `${e.sentiment}: ${e.text}`)))
    );
  }
  return section;
}

// A link from an alert webhook (#brand=...&period=...): that brand's card and alert stand out.
function focus() {
  const params = new URLSearchParams(location.hash.slice(1));
  const brand = params.get("brand");
  if (!brand) return;
  const section = [...document.querySelectorAll("section.brand")].find((s) => s.dataset.brand === brand);
  if (!section) return;
  section.classList.add("focus");
  const period = params.get("period");
  const alert = period && [...section.querySelectorAll(".alerts > li")].find((li) => li.dataset.period === period);
  if (alert) alert.classList.add("focus");
  if (!state.focused) (alert || section).scrollIntoView({ block: "start" });
  state.focused = true;
}

function figure(field, value, label) {
  return el("div", { class: "figure" }, el("span", { class: "value", "data-field": field }, value), el("span", { class: "label" }, label));
}

function alertItem(tests) {
  const alert = tests[0];
  const what = tests
    .map((a) =>
      a.metric === "negative_share"
        ? `negative share ${pct(a.value)} vs ${pct(a.baseline)}`
        : `net sentiment ${signed(a.value)} vs ${signed(a.baseline)}`
    )
    .join("; ");
  const p = Math.min(...tests.map((a) => a.p_adjusted));
  const item = el(
    "li",
    { "data-period": alert.period, "data-metrics": tests.map((a) => a.metric).join(" ") },
    el("span", { class: "what" }, `${day(alert.period)}: ${what}`),
    el("span", { class: "muted" }, ` (n = ${alert.n}, ${alert.unique_texts} unique texts, adjusted p = ${p.toPrecision(2)})`)
  );
  if (alert.words.length) item.append(el("ul", { class: "chips negative words" }, ...alert.words.map((w) => el("li", {}, w.term))));
  if (alert.repeated_texts.length) {
    item.append(
      el(
        "ul",
        { class: "repeated" },
        ...alert.repeated_texts.map((r) =>
          el(
            "li",
            {},
            `×${r.posts} posts${r.retweets ? ` (${r.retweets} retweets)` : ""}, ${pct(r.share)} of the period: “${r.text}”`
          )
        )
      )
    );
  }
  if (alert.examples.length) {
    item.append(el("ul", { class: "examples" }, ...alert.examples.map((e) => el("li", { "data-post": e.post_id }, e.text))));
  }
  return item;
}

function chart(series, alertPeriods) {
  const W = 600, H = 170, top = 8, netH = 100, barTop = 120, barH = 36, left = 30;
  const root = svg("svg", { class: "trend", viewBox: `0 0 ${W} ${H}`, role: "img" });
  root.append(svg("title"));
  root.firstChild.textContent = "net sentiment with its 95% interval (line and band) and posts per period (bars)";
  if (!series.length) return root;
  const step = (W - left - 10) / Math.max(1, series.length);
  const x = (i) => left + step * (i + 0.5);
  const y = (v) => top + ((1 - v) / 2) * netH;
  root.append(svg("line", { class: "zero", x1: left, x2: W - 10, y1: y(0), y2: y(0) }));
  for (const [v, t] of [[1, "+1"], [0, "0"], [-1, "−1"]]) {
    const label = svg("text", { x: 2, y: y(v) + 3 });
    label.textContent = t;
    root.append(label);
  }
  const band = series.map((s, i) => `${x(i)},${y(s.net_hi)}`).concat(series.map((s, i) => `${x(i)},${y(s.net_lo)}`).reverse());
  root.append(svg("polygon", { class: "band", points: band.join(" ") }));
  root.append(svg("polyline", { class: "line", points: series.map((s, i) => `${x(i)},${y(s.net)}`).join(" ") }));
  const most = Math.max(...series.map((s) => s.n));
  series.forEach((s, i) => {
    const h = most ? (barH * s.n) / most : 0;
    const bar = svg("rect", { class: "bar", x: x(i) - step * 0.35, width: Math.max(1, step * 0.7), y: barTop + barH - h, height: h });
    bar.append(svg("title"));
    bar.firstChild.textContent = `${day(s.period)}: ${s.n} posts, net ${signed(s.net)} [${signed(s.net_lo)}, ${signed(s.net_hi)}]`;
    root.append(bar);
    if (alertPeriods.has(s.period)) root.append(svg("circle", { class: "alert-mark", cx: x(i), cy: y(s.net), r: 4 }));
  });
  const first = svg("text", { x: left, y: H - 2 });
  first.textContent = day(series[0].period);
  const last = svg("text", { x: W - 10, y: H - 2, "text-anchor": "end" });
  last.textContent = day(series[series.length - 1].period);
  root.append(first, last);
  return root;
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.key = $("key").value.trim() || null;
  if (state.key) sessionStorage.setItem("sf-key", state.key);
  state.version = null;
  poll();
});

readKey();
poll();
