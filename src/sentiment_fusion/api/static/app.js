// sentiment-fusion web page: no framework, no external code. Sends the form to
// POST /v1/predict/upload and draws the answer. Text from the server is only ever
// set with textContent (never innerHTML).
"use strict";

const LABELS = ["negative", "neutral", "positive"];
const $ = (id) => document.getElementById(id);
let chosenFile = null;
let maxChars = 5000; // replaced by the server's limit from /v1/model
let targets = []; // the targets to score the sentiment toward, in order
let maxTargets = 32, maxTargetChars = 100, maxExplainTargets = 8; // the server's limits, from /v1/model
let targetsSupported = true; // false when the model has no target component (from /v1/model)

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
  showTargets(data.targets, sentText);
  $("result").hidden = false;
}

// One card per target, in the order asked: where the text names it (or that it does not), the
// verdict toward it and its scores; with an explanation, the text highlighted toward that verdict.
function showTargets(answers, text) {
  const box = $("target-results");
  box.hidden = !answers || answers.length === 0;
  const cards = $("target-cards");
  cards.replaceChildren();
  for (const answer of answers || []) {
    const card = el("div", "target-card");
    card.dataset.target = answer.target;
    card.dataset.found = String(answer.found);
    const title = el("h4", "", answer.target + ": ");
    title.appendChild(el("span", "sentiment " + String(answer.sentiment).toLowerCase(), answer.sentiment));
    card.appendChild(title);
    const chars = [...text.replace(/\r\n/g, "\n")]; // spans count code points, line breaks as one
    const named = answer.spans.map(([start, end]) => chars.slice(start, end).join(""));
    card.appendChild(el("p", answer.found ? "where" : "where missing", answer.found
      ? "found in the text as " + named.join(", ")
      : "not found in the text (read from the whole post as being about it)"));
    card.appendChild(bars(answer.scores));
    if (answer.explanation) {
      card.appendChild(el("p", "hint", `why ${answer.explanation.label} toward ${answer.target}:`));
      const line = el("p", "why-text");
      markWords(line, text, answer.explanation.words);
      card.appendChild(line);
    }
    cards.appendChild(card);
  }
}

function renderTargets() {
  const list = $("targets");
  list.replaceChildren();
  targets.forEach((target, i) => {
    const chip = el("li", "chip");
    chip.dataset.target = target;
    chip.appendChild(el("span", "", target));
    const remove = el("button", "", "×");
    remove.type = "button";
    remove.setAttribute("aria-label", "remove target " + target);
    remove.addEventListener("click", () => { targets.splice(i, 1); renderTargets(); });
    chip.appendChild(remove);
    list.appendChild(chip);
  });
}

// Adds the typed target; false (with the reason under the box) when it cannot be added.
function addTarget() {
  const input = $("target-input");
  const hint = $("target-hint");
  const value = input.value.trim();
  if (!value) return true;
  let problem = "";
  if (!targetsSupported) problem = "This model cannot score targets.";
  else if ([...value].length > maxTargetChars) problem = `A target has at most ${maxTargetChars} characters.`;
  else if (!value.replace(/[@#$\s]/g, "")) problem = "A target must name something.";
  else if (targets.includes(value)) problem = `${value} is already a target.`;
  else if (targets.length >= maxTargets) problem = `At most ${maxTargets} targets per post.`;
  hint.textContent = problem;
  hint.classList.toggle("over", !!problem);
  if (problem) return false;
  targets.push(value);
  input.value = "";
  renderTargets();
  return true;
}

// Red toward the verdict, blue against; opacity by |weight| relative to the post's strongest piece.
function tint(weight, scale) {
  const alpha = (0.75 * Math.min(1, Math.abs(weight) / scale)).toFixed(3);
  return weight > 0 ? `rgba(214, 69, 69, ${alpha})` : `rgba(47, 111, 222, ${alpha})`;
}

// The text as the server read it (offsets count code points, line breaks as one), each word a
// <mark> coloured by its weight. Built from text nodes only (never innerHTML).
function markWords(line, text, words) {
  const chars = [...text.replace(/\r\n/g, "\n")];
  const scale = Math.max(1e-9, ...words.map((w) => Math.abs(w.weight)));
  line.replaceChildren();
  let pos = 0;
  for (const word of words) {
    line.appendChild(document.createTextNode(chars.slice(pos, word.start).join("")));
    const mark = el("mark", "word", chars.slice(word.start, word.end).join(""));
    mark.style.backgroundColor = tint(word.weight, scale);
    mark.dataset.weight = String(word.weight);
    mark.title = (word.weight > 0 ? "+" : "") + word.weight.toFixed(3);
    line.appendChild(mark);
    pos = word.end;
  }
  line.appendChild(document.createTextNode(chars.slice(pos).join("")));
  line.hidden = words.length === 0;
}

function showWhy(why, text) {
  $("why").hidden = !why;
  if (!why) return;
  $("why-label").textContent = why.label;
  markWords($("why-text"), text, why.words);
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
  if (!addTarget()) { // a target typed but not yet added counts too
    showError("Fix the target first: " + $("target-hint").textContent);
    return;
  }
  if (targets.length && !text.trim()) {
    showError("The sentiment toward a target is read from the post's text: type the text too.");
    return;
  }
  if (!text.trim() && !chosenFile) {
    showError("Type some text or add an image first.");
    return;
  }
  if (charCount(text) > maxChars) {
    showError(`The text has ${charCount(text)} characters; the limit is ${maxChars}.`);
    return;
  }
  if (targets.length > maxExplainTargets && $("explain").checked) {
    showError(`Explaining costs a model run per word and target: at most ${maxExplainTargets} targets with "Explain why".`);
    return;
  }
  const form = new FormData();
  if (text.trim()) form.append("text", text);
  if (chosenFile) form.append("image", chosenFile, chosenFile.name);
  if ($("explain").checked) form.append("explain", "true");
  for (const target of targets) form.append("targets", target);
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
    if (info.limits && info.limits.max_targets) maxTargets = info.limits.max_targets;
    if (info.limits && info.limits.max_target_chars) maxTargetChars = info.limits.max_target_chars;
    if (info.limits && info.limits.max_explain_targets) maxExplainTargets = info.limits.max_explain_targets;
    targetsSupported = !!(info.components && info.components.target);
    $("target-input").disabled = $("add-target").disabled = !targetsSupported;
    $("target-hint").textContent = targetsSupported ? ""
      : `This model (${info.name} ${info.version}) has no target component: it cannot score targets.`;
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
  $("add-target").addEventListener("click", addTarget);
  $("target-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); addTarget(); } // Enter adds the target, not submits the form
  });
  showCount();
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) analyze(e);
  });
  loadModel();
});
