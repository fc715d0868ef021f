// sentiment-fusion web page: no framework, no external code. Sends the form to
// POST /v1/predict/upload and draws the answer. Text from the server is only ever
// set with textContent (never innerHTML).
"use strict";

const LABELS = ["negative", "neutral", "positive"];
const $ = (id) => document.getElementById(id);
let chosenFile = null;
let maxChars = 5000; // replaced by the server's limit from /v1/model

// Characters as the server counts them: code points, with line breaks as one.
const charCount = (text) => [...text.replace(/\r\n/g, "\n")].length;

function showCount() {
  const n = charCount($("text").value);
  const box = $("count");
  box.textContent = n > maxChars ? `${n} / ${maxChars} characters: too long, shorten it` : `${n} / ${maxChars} characters`;
  box.classList.toggle("over", n > maxChars);
}

function headers() {
  const key = $("api-key").value.trim();
  sessionStorage.setItem("sf-api-key", key);
  return key ? { "X-API-Key": key } : {};
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function bars(scores) {
  const box = el("div", "bars");
  for (const label of LABELS) {
    const p = Number(scores[label] || 0);
    const row = el("div", "bar");
    row.dataset.label = label;
    row.appendChild(el("span", "name", label));
    const track = el("div", "track");
    const fill = el("div", "fill " + label);
    fill.style.width = (p * 100).toFixed(1) + "%";
    track.appendChild(fill);
    row.appendChild(track);
    row.appendChild(el("span", "pct", (p * 100).toFixed(1) + "%"));
    box.appendChild(row);
  }
  return box;
}

function showResult(data, sentText) {
  $("error").hidden = true;
  const sentiment = $("sentiment");
  sentiment.textContent = data.sentiment;
  sentiment.className = "sentiment " + String(data.sentiment).toLowerCase();
  $("source").textContent = data.source + " · " + data.model.name + " " + data.model.version;
  $("bars").replaceChildren(bars(data.scores));
  const views = $("modalities");
  views.replaceChildren();
  for (const [name, view] of Object.entries(data.modalities || {})) {
    const card = el("div", "modality");
    card.id = "modality-" + name;
    card.appendChild(el("h3", "", name + ": " + view.sentiment));
    card.appendChild(bars(view.scores));
    views.appendChild(card);
  }
  showWhy(data.explanation, sentText);
  $("result").hidden = false;
}

// Red toward the verdict, blue against; opacity by |weight| relative to the post's strongest piece.
function tint(weight, scale) {
  const alpha = (0.75 * Math.min(1, Math.abs(weight) / scale)).toFixed(3);
  return weight > 0 ? `rgba(214, 69, 69, ${alpha})` : `rgba(47, 111, 222, ${alpha})`;
}

// The text as the server read it (offsets count code points, line breaks as one), each word a
// <mark> coloured by its weight. Built from text nodes only (never innerHTML).
function showWhy(why, text) {
  $("why").hidden = !why;
  if (!why) return;
  $("why-label").textContent = why.label;
  const chars = [...text.replace(/\r\n/g, "\n")];
  const scale = Math.max(1e-9, ...why.words.map((w) => Math.abs(w.weight)));
  const line = $("why-text");
  line.replaceChildren();
  let pos = 0;
  for (const word of why.words) {
    line.appendChild(document.createTextNode(chars.slice(pos, word.start).join("")));
    const mark = el("mark", "word", chars.slice(word.start, word.end).join(""));
    mark.style.backgroundColor = tint(word.weight, scale);
    mark.dataset.weight = String(word.weight);
    mark.title = (word.weight > 0 ? "+" : "") + word.weight.toFixed(3);
    line.appendChild(mark);
    pos = word.end;
  }
  line.appendChild(document.createTextNode(chars.slice(pos).join("")));
  line.hidden = why.words.length === 0;
  const image = $("why-image");
  image.hidden = !why.image;
  if (why.image) image.src = "data:image/png;base64," + why.image.overlay_png;
  else image.removeAttribute("src");
  const list = $("why-modalities");
  list.replaceChildren();
  for (const [name, effect] of Object.entries(why.modalities || {})) {
    const p = Number(effect.scores_without[why.label] || 0);
    const sign = effect.contribution > 0 ? "+" : "";
    list.appendChild(el("li", "", `without the ${name}: ${why.label} ${(p * 100).toFixed(1)}% ` +
      `(its contribution ${sign}${(effect.contribution * 100).toFixed(1)} points)`));
  }
}

function showError(message) {
  $("result").hidden = true;
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function setFile(file) {
  chosenFile = file || null;
  const preview = $("preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  if (chosenFile) {
    preview.src = URL.createObjectURL(chosenFile);
    preview.hidden = false;
    $("drop-label").textContent = chosenFile.name;
  } else {
    preview.removeAttribute("src");
    preview.hidden = true;
    $("drop-label").textContent = "Drop an image here or choose a file";
    $("image").value = "";
  }
  $("clear-image").hidden = !chosenFile;
}

async function analyze(event) {
  event.preventDefault();
  const button = $("submit");
  if (button.disabled) return; // one request at a time (Ctrl+Enter while one is in flight)
  const text = $("text").value;
  if (!text.trim() && !chosenFile) {
    showError("Type some text or add an image first.");
    return;
  }
  if (charCount(text) > maxChars) {
    showError(`The text has ${charCount(text)} characters; the limit is ${maxChars}.`);
    return;
  }
  const form = new FormData();
  if (text.trim()) form.append("text", text);
  if (chosenFile) form.append("image", chosenFile, chosenFile.name);
  if ($("explain").checked) form.append("explain", "true");
  button.disabled = true;
  button.textContent = "Analyzing…";
  try {
    const response = await fetch("/v1/predict/upload", { method: "POST", body: form, headers: headers() });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const err = data && data.error;
      showError(err ? `${err.message} (${err.code}, HTTP ${response.status})` : `HTTP ${response.status}`);
    } else {
      showResult(data, text);
    }
  } catch (exc) {
    showError("The server could not be reached: " + exc);
  } finally {
    button.disabled = false;
    button.textContent = "Analyze";
  }
}

async function loadModel(attempt = 0) {
  try {
    const response = await fetch("/v1/model", { headers: headers() });
    if (response.status === 503 && attempt < 60) { // the model is still loading: ask again
      setTimeout(() => loadModel(attempt + 1), 2000);
      return;
    }
    if (!response.ok) return;
    const info = await response.json();
    $("model").textContent = `model ${info.name} ${info.version} · reads ${info.modalities.join(" + ")}`;
    if (info.limits && info.limits.max_text_chars) maxChars = info.limits.max_text_chars;
    showCount();
  } catch (exc) {
    /* the page still works without this line */
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("api-key").value = sessionStorage.getItem("sf-api-key") || "";
  $("form").addEventListener("submit", analyze);
  $("image").addEventListener("change", (e) => setFile(e.target.files[0]));
  $("clear-image").addEventListener("click", () => setFile(null));
  const drop = $("drop");
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer.files[0];
    if (file) setFile(file);
  });
  $("text").addEventListener("input", showCount);
  showCount();
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) analyze(e);
  });
  loadModel();
});
