// The record viewer. Record text is untrusted: every value goes into the page through
// textContent (el() below), never innerHTML, so an answer cannot inject markup or script.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function text(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

async function api(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) if (value) query.set(key, value);
  const response = await fetch(path + (query.toString() ? "?" + query : ""));
  return response.json();
}

const view = { cursors: [""], page: 0, compareCursors: [""], comparePage: 0, summary: null };

function filters() {
  const form = new FormData(document.getElementById("filters"));
  return Object.fromEntries([...form.entries()].filter(([, v]) => v));
}

function options(select, values) {
  for (const value of values) select.append(el("option", { value }, value));
}

async function loadRecords() {
  const body = document.querySelector("#record-table tbody");
  const data = await api("/api/records", { ...filters(), after: view.cursors[view.page] });
  body.replaceChildren(
    ...data.records.map((r) => {
      const answer = (r.parsed !== null ? text(r.parsed) : text(r.output)) +
        (r.output !== null && !r.current ? " (to an earlier prompt)" : "");
      const row = el(
        "tr",
        { "data-model": r.model, "data-id": r.id, onclick: () => { select(row); showRecord(r.model, r.custom_id); } },
        el("td", {}, r.id),
        el("td", {}, r.model),
        el("td", { class: "status-" + r.status }, r.status + (r.attempts > 1 ? ` (${r.attempts} attempts)` : "")),
        el("td", { class: "text", title: answer }, answer),
        el("td", { class: "text", title: text(r.error_message) }, r.error_code || ""),
      );
      return row;
    }),
  );
  if (!data.records.length) body.append(el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No records match.")));
  view.cursors[view.page + 1] = data.next;
  document.getElementById("prev").disabled = view.page === 0;
  document.getElementById("next").disabled = !data.next;
  document.getElementById("page").textContent = `page ${view.page + 1}`;
  document.body.dataset.records = String(data.records.length);
}

function select(row) {
  for (const other of document.querySelectorAll("tr.selected")) other.classList.remove("selected");
  row.classList.add("selected");
}

function fields(pairs) {
  const list = el("dl");
  for (const [key, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    list.append(el("dt", {}, key), el("dd", {}, typeof value === "object" ? el("pre", {}, text(value)) : String(value)));
  }
  return list;
}

function usage(a) {
  return `${a.input_tokens} in · ${a.output_tokens} out · ${a.cache_read_tokens} cache read · ` +
    `${a.cache_write_tokens} cache write · ${a.cost_usd === null ? "cost unknown" : "$" + a.cost_usd.toFixed(6)}`;
}

function diffView(lines) {
  return el("pre", {}, ...lines.map((line) => {
    const trimmed = line.trimStart();
    const kind = trimmed.startsWith("+") ? "diff-add" : trimmed.startsWith("-") ? "diff-del" : "";
    return el("span", { class: kind }, line + "\n");
  }));
}

async function showRecord(model, customId) {
  const box = document.getElementById("detail");
  const r = await api("/api/record", { model, custom_id: customId });
  const parts = [el("h2", {}, r.id, " ", el("small", { class: "muted" }, r.model))];
  parts.push(fields([["status", r.status], ["attempts", r.attempts], ["custom_id", r.custom_id],
    ["batch", r.batch_key], ["updated", r.updated_at], ["last error", r.error_code && `${r.error_code}: ${r.error_message}`]]));
  parts.push(el("h3", {}, "Input fields"));
  parts.push(r.input ? fields(Object.entries(r.input)) : el("p", { class: "muted" }, r.input_where));
  if (r.input) parts.push(el("p", { class: "muted" }, r.input_where));
  parts.push(el("h3", {}, "Request"));
  if (r.request) {
    if (r.request.system) parts.push(el("h4", {}, "system"), el("pre", { class: "system" }, text(r.request.system)));
    for (const m of r.request.messages || []) {
      if (m.role === "system") continue;
      parts.push(el("h4", {}, m.role || "message"), el("pre", { class: "message" }, text(m.content)));
    }
  } else parts.push(el("p", { class: "muted" }, "The state no longer has this request's body."));
  parts.push(el("h3", {}, "Answer"));
  if (r.answer) {
    parts.push(el("pre", { class: "answer" }, text(r.answer.output)));
    if (r.answer.parsed !== null) parts.push(el("h4", {}, "parsed"), fields(Object.entries(r.answer.parsed)));
    parts.push(el("p", { class: "muted" }, `${usage(r.answer)} · ${r.answer.source} · attempt ${r.answer.attempt} · ${r.answer.created_at}`));
    if (!r.answer.current) parts.push(el("p", { class: "status-failed" }, "This answer is to an earlier request; the current one has no answer yet."));
  } else parts.push(el("p", { class: "muted" }, "No answer yet."));
  if (r.errors.length) {
    parts.push(el("h3", {}, `Errors (${r.errors.length})`));
    parts.push(el("table", {}, el("thead", {}, el("tr", {}, ...["attempt", "code", "message", "kind", "when"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...r.errors.map((e) => el("tr", {}, el("td", {}, e.attempt), el("td", {}, e.code), el("td", {}, e.message),
        el("td", {}, e.retryable ? "retryable" : "permanent"), el("td", {}, e.created_at))))));
  }
  const earlier = r.history.filter((a) => a !== null && a.result_id !== (r.answer && r.answer.result_id));
  parts.push(el("h3", {}, `History (${earlier.length} earlier answer${earlier.length === 1 ? "" : "s"})`));
  const newer = [r.answer, ...earlier];
  for (let i = 1; i < newer.length; i++) {
    const a = newer[i];
    const item = el("div", { class: "history" }, el("p", { class: "muted" }, `${a.created_at} · request ${a.request_hash.slice(0, 12)}`),
      el("pre", {}, text(a.parsed !== null ? a.parsed : a.output)));
    const replaced = newer[i - 1];
    if (replaced && replaced.prompt_diff) item.append(el("p", {}, "Prompt change that replaced it:"), diffView(replaced.prompt_diff));
    parts.push(item);
  }
  box.replaceChildren(...parts);
}

async function loadCompare() {
  const data = await api("/api/compare", { after: view.compareCursors[view.comparePage] });
  const head = document.querySelector("#compare-table thead");
  head.replaceChildren(el("tr", {}, el("th", {}, "id"), ...data.models.map((m) => el("th", {}, m))));
  document.querySelector("#compare-table tbody").replaceChildren(...data.rows.map((row) => {
    const first = data.models.map((m) => row.answers[m]).find((a) => a && a.status === "done");
    const value = (a) => (a ? (a.parsed !== null ? text(a.parsed) : text(a.output).trim()) : "");
    return el("tr", { class: row.differ ? "differ" : "" }, el("td", {}, row.id), ...data.models.map((m) => {
      const a = row.answers[m];
      const shown = a ? (a.status === "done" ? value(a) : a.status) : "—";
      const differs = row.differ && a && a.status === "done" && value(a) !== value(first);
      return el("td", { class: "text" + (differs ? " differs" : ""), title: shown }, shown);
    }));
  }));
  view.compareCursors[view.comparePage + 1] = data.next;
  document.getElementById("cprev").disabled = view.comparePage === 0;
  document.getElementById("cnext").disabled = !data.next;
  const pairs = await api("/api/agreement");
  document.getElementById("agreement").replaceChildren(el("h2", {}, "Agreement"), el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "models"), el("th", {}, "both answered"), el("th", {}, "agree"), el("th", {}, "rate"))),
    el("tbody", {}, ...pairs.map((p) => el("tr", {}, el("td", {}, p.models.join(" vs ")), el("td", {}, p.both), el("td", {}, p.agree),
      el("td", {}, p.both ? (100 * p.agree / p.both).toFixed(1) + "%" : "—"))))));
}

async function loadErrors() {
  const data = await api("/api/errors");
  const codes = document.querySelector("#codes tbody");
  codes.replaceChildren(...data.codes.map((c) => el("tr", {},
    el("td", {}, el("a", { onclick: () => { showCode(c.code); } }, c.code)), el("td", {}, c.attempts), el("td", {}, c.records),
    el("td", {}, c.retryable ? "retryable" : "permanent"), el("td", { class: "text", title: c.example }, c.example))));
  if (!data.codes.length) codes.append(el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No errors.")));
  const batches = document.querySelector("#batches tbody");
  batches.replaceChildren(...data.failed_batches.map((b) => el("tr", {}, el("td", {}, b.batch), el("td", {}, b.model),
    el("td", {}, b.status), el("td", {}, b.reason || "(the provider gave none)"))));
  if (!data.failed_batches.length) batches.append(el("tr", {}, el("td", { colspan: "4", class: "muted" }, "No failed batches.")));
}

function showCode(code) {
  document.getElementById("filters").reset();
  document.getElementById("code").value = code;
  tab("records");
  restart();
}

function restart() { view.cursors = [""]; view.page = 0; loadRecords(); }

function tab(name) {
  for (const section of document.querySelectorAll(".tab")) section.hidden = section.id !== name;
  for (const button of document.querySelectorAll("nav button")) button.classList.toggle("active", button.dataset.tab === name);
  if (name === "compare") loadCompare();
  if (name === "errors") loadErrors();
}

async function start() {
  const s = await api("/api/summary");
  view.summary = s;
  document.title = `${s.job} · batchspec view`;
  document.getElementById("job").textContent = s.job;
  options(document.getElementById("status"), s.statuses);
  options(document.getElementById("model"), s.models);
  options(document.getElementById("code"), s.error_codes);
  options(document.getElementById("field"), s.parsed_fields);
  document.getElementById("compare-tab").hidden = s.models.length < 2;
  document.getElementById("filters").addEventListener("submit", (event) => { event.preventDefault(); restart(); });
  for (const id of ["status", "model", "code"]) document.getElementById(id).addEventListener("change", restart);
  document.getElementById("clear").addEventListener("click", () => { document.getElementById("filters").reset(); restart(); });
  document.getElementById("next").addEventListener("click", () => { view.page++; loadRecords(); });
  document.getElementById("prev").addEventListener("click", () => { view.page--; loadRecords(); });
  document.getElementById("cnext").addEventListener("click", () => { view.comparePage++; loadCompare(); });
  document.getElementById("cprev").addEventListener("click", () => { view.comparePage--; loadCompare(); });
  for (const button of document.querySelectorAll("nav button")) button.addEventListener("click", () => tab(button.dataset.tab));
  await loadRecords();
  document.body.dataset.ready = "1";
  // Whole-state sums come after the first page: on a large state they take a while.
  const t = await api("/api/totals");
  const total = Object.values(t.records).reduce((a, b) => a + b, 0);
  document.getElementById("totals").textContent = `${total.toLocaleString()} records · ` +
    `${t.records.done.toLocaleString()} done · ${t.records.failed.toLocaleString()} failed · $${t.usage.cost_usd.toFixed(4)}`;
}

start();
