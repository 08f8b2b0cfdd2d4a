// vitrify lab page: the same REST API and the same tokens as every other client.
// The token lives in this tab's sessionStorage only; every call sends it as a Bearer token.
"use strict";

const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = "vitrify-token";

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function api(method, path, body) {
  const headers = { "Accept": "application/json", "X-Vitrify-Client": "web" };
  if (token()) headers["Authorization"] = "Bearer " + token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { ok: response.ok, status: response.status, data };
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  row.appendChild(td);
  return td;
}

// Each cell carries its column's name, so the narrow (phone) layout can show "Route: melt-spinning".
function labelCells(tableId) {
  const ths = Array.from(document.querySelectorAll("#" + tableId + " thead th"));
  const heads = ths.map((th) => th.textContent);
  const rows = Array.from(document.querySelectorAll("#" + tableId + " tbody tr"));
  const used = heads.map(() => false);
  rows.forEach((tr) => {
    Array.from(tr.children).forEach((td, i) => {
      td.dataset.label = heads[i] || "";
      if (td.textContent === "") td.classList.add("empty"); else used[i] = true;
    });
  });
  // a column empty in every row (e.g. "Predicted" before a modulus model exists) is left out
  ths.forEach((th, i) => {
    const hide = rows.length > 0 && !used[i] && heads[i] !== "";
    th.classList.toggle("unused", hide);
    rows.forEach((tr) => { if (tr.children[i]) tr.children[i].classList.toggle("unused", hide); });
  });
}

// Times are stored in UTC; the lab reads them in its own (the browser's) time zone.
function localTime(iso) {
  if (!iso) return "";
  const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + "Z");
  if (isNaN(d)) return iso;
  return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

const UNIT_SHOWN = { "C": "°C", "um": "µm" };
function measured(m) {
  return Object.entries(m || {}).map(([q, v]) => q.replace("youngs_modulus", "E") + " " + Number(v.value.toPrecision(5)) + " " + (UNIT_SHOWN[v.unit] || v.unit)).join(", ");
}

function predictedText(p) {
  const names = { youngs_modulus_gpa: "E", shear_modulus_gpa: "G", bulk_modulus_gpa: "B", dmax_mm: "Dmax" };
  const units = { youngs_modulus_gpa: " GPa", shear_modulus_gpa: " GPa", bulk_modulus_gpa: " GPa", dmax_mm: " mm" };
  return Object.entries(p || {}).filter(([, v]) => v && v.mean !== null && v.mean !== undefined)
    .map(([k, v]) => (names[k] || k) + " " + Number(v.mean.toPrecision(3)) + (v.std ? " ± " + Number(v.std.toPrecision(2)) : "") + (units[k] || "")).join(", ");
}

// The API names fields; the lab reads the form's labels.
const FIELD_LABEL = { job_id: "Job", correction_of: "Corrects outcome", composition: "Composition", result: "Result",
  method: "Processing route", sample_id: "Sample id", reporter: "Made by", reason: "Reason", body: "Form", database: "Database" };
function problem(r) {
  if (r.status === 401) return "Sign in with your lab token first (ask your lab admin for one).";
  if (r.status === 403) return "Your token may not do this: " + ((r.data && r.data.detail) || "ask an operator.");
  if (r.status === 503) return "The database is not available right now; nothing was saved. Tell the person who runs vitrify.";
  if (!r.data) return "The server did not answer (error " + r.status + "); nothing was saved.";
  const errors = r.data.errors || [];
  if (errors.length && r.status === 422) {
    return errors.map((e) => (e.row ? "row " + e.row + ", " : "") + (FIELD_LABEL[e.field] || e.field) + ": " + e.message).join("; ");
  }
  return r.data.detail || ("error " + r.status);
}

function button(label, onClick, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

const ROLE_LEVEL = { reporter: 0, operator: 1, admin: 2 };

async function whoami() {
  $("#approvals-section").hidden = true;
  $("#tokens-section").hidden = true;
  if (!token()) { $("#whoami").textContent = "not signed in"; return false; }
  const r = await api("GET", "/api/whoami");
  if (!r.ok) {
    $("#whoami").textContent = r.status === 401 ? "this token was not recognised (mistyped or revoked)" : problem(r);
    return false;
  }
  $("#whoami").textContent = "signed in as " + r.data.name + " (" + r.data.role + ")";
  const level = ROLE_LEVEL[r.data.role] || 0;
  if (level >= ROLE_LEVEL.operator) { $("#approvals-section").hidden = false; loadApprovals(); }
  if (level >= ROLE_LEVEL.admin) { $("#tokens-section").hidden = false; loadTokens(); }
  return true;
}

async function loadApprovals() {
  const r = await api("GET", "/api/approvals");
  const body = $("#approvals tbody");
  body.replaceChildren();
  if (!r.ok) { $("#approvals-message").textContent = (r.data && r.data.detail) || ("error " + r.status); return; }
  $("#approvals-message").textContent = r.data.length ? "" : "No batch is waiting.";
  for (const a of r.data) {
    const tr = document.createElement("tr");
    tr.dataset.approvalId = a.id;
    cell(tr, a.id);
    cell(tr, a.campaign_id);
    cell(tr, a.n_jobs);
    cell(tr, a.jobs.map((j) => j.composition).join(", "));
    cell(tr, localTime(a.requested_at));
    const actions = cell(tr, "");
    actions.appendChild(button("approve", () => decide(a.id, "approve"), "claim"));
    actions.appendChild(button("reject", () => decide(a.id, "reject")));
    body.appendChild(tr);
  }
}

async function decide(id, verb) {
  const r = await api("POST", "/api/approvals/" + id + "/" + verb, {});
  await loadApprovals();
  await loadQueue();
  $("#approvals-message").textContent = r.ok ? "Approval " + id + ": " + r.data.status + "." : ((r.data && r.data.detail) || ("error " + r.status));
}

async function loadTokens() {
  const r = await api("GET", "/api/tokens");
  const body = $("#tokens tbody");
  body.replaceChildren();
  if (!r.ok) return;
  for (const t of r.data) {
    const tr = document.createElement("tr");
    for (const v of [t.id, t.name, t.role, t.prefix + "...", t.created_at, t.last_used_at]) cell(tr, v);
    cell(tr, "").appendChild(button("revoke", async () => {
      if (!window.confirm("Revoke the token of " + t.name + "? It stops working at once.")) return;
      await api("DELETE", "/api/tokens/" + t.id);
      await loadTokens();
    }));
    body.appendChild(tr);
  }
}

async function createToken(event) {
  event.preventDefault();
  const out = $("#new-token");
  const r = await api("POST", "/api/tokens", { name: $("#new-token-name").value, role: $("#new-token-role").value });
  out.replaceChildren();
  if (!r.ok) { out.textContent = (r.data && r.data.detail) || ("error " + r.status); return; }
  out.append("Token for " + r.data.token.name + " (" + r.data.token.role + "), shown only now: ");
  const code = document.createElement("code");
  code.id = "new-token-secret";
  code.textContent = r.data.secret;
  out.appendChild(code);
  $("#token-create-form").reset();
  await loadTokens();
}

async function loadQueue() {
  const body = $("#queue tbody");
  const all = $("#queue-all").checked;
  const r = await api("GET", "/api/queue" + (all ? "?all=true" : ""));
  body.replaceChildren();
  if (!r.ok) {
    $("#queue-message").textContent = problem(r);
    return;
  }
  $("#queue-message").textContent = r.data.length ? r.data.length + (r.data.length === 1 ? " job to make" : " jobs to make") : "Nothing to make: the queue is empty.";
  for (const job of r.data) {
    const tr = document.createElement("tr");
    tr.dataset.jobId = job.job_id;
    cell(tr, job.job_id);
    cell(tr, job.composition).className = "composition";
    cell(tr, job.processing);
    cell(tr, job.glass_probability === null || job.glass_probability === undefined ? "" : job.glass_probability.toFixed(2) +
      (job.uncertainty ? " ± " + job.uncertainty.toFixed(2) : ""));
    cell(tr, predictedText(job.predicted));
    cell(tr, (job.why || "") + (job.campaign ? " (" + job.campaign + " #" + job.campaign_id + ")" : ""));
    cell(tr, localTime(job.requested_at));
    cell(tr, job.state + (job.retry_of ? " (retry of " + job.retry_of + ")" : ""));
    const actions = cell(tr, "");
    if (job.status === "queued" && job.released_at) {
      actions.appendChild(button("claim", () => claim(job.job_id), "claim"));
    }
    if (job.released_at && (job.status === "queued" || job.status === "running")) {
      actions.appendChild(button("report", () => startReport(job), "report"));
    }
    actions.appendChild(button("history", () => loadHistory({ job_id: job.job_id }), "history"));
    body.appendChild(tr);
  }
  labelCells("queue");
}

async function loadDone() {
  const r = await api("GET", "/api/reports/recent?limit=20");
  const body = $("#done tbody");
  body.replaceChildren();
  if (!r.ok) { $("#done-message").textContent = problem(r); return; }
  $("#done-message").textContent = r.data.length ? "" : "No reports yet.";
  for (const o of r.data) {
    const tr = document.createElement("tr");
    tr.dataset.outcomeId = o.outcome_id;
    cell(tr, o.outcome_id + (o.revision > 1 ? " (rev. " + o.revision + ")" : ""));
    cell(tr, o.job_id);
    cell(tr, o.composition).className = "composition";
    cell(tr, o.result + (o.processing && o.processing !== "unknown" ? ", " + o.processing : ""));
    cell(tr, measured(o.measurements));
    cell(tr, o.sample_id);
    cell(tr, (o.reporter || "") + ", " + localTime(o.created_at));
    const actions = cell(tr, "");
    actions.appendChild(button("correct this result", () => startCorrection(o), "correct"));
    actions.appendChild(button("history", () => loadHistory({ outcome_id: o.outcome_id }), "history"));
    body.appendChild(tr);
  }
  labelCells("done");
}

function startCorrection(o) {
  $("#report-form").reset();
  clearErrors();
  $("#correction_of").value = o.outcome_id;
  $("#composition").value = o.composition || "";
  $("#sample_id").value = o.sample_id || "";
  $("#notes").value = o.notes || "";
  if (o.processing && o.processing !== "unknown") $("#method").value = o.processing;
  for (const [q, m] of Object.entries(o.measurements || {})) {
    const input = document.getElementById("m-" + q);
    if (input) { input.value = m.value; const unit = document.querySelector('[data-unit-for="' + q + '"]'); if (unit) unit.value = m.unit; }
  }
  $("#report-message").className = "";
  $("#report-message").textContent = "Correcting outcome " + o.outcome_id + " (" + o.composition + ", " + o.result +
    "): change what was wrong, say why, and submit. The old report is kept as a superseded revision.";
  $("#reason").focus();
}

async function uploadCsv(event) {
  event.preventDefault();
  const out = $("#csv-message");
  const file = $("#csv-file").files[0];
  out.className = "";
  if (!file) { out.textContent = "Choose a CSV file first."; return; }
  out.textContent = "Uploading " + file.name + "...";
  const headers = { "Accept": "application/json", "Content-Type": "text/csv", "X-Vitrify-Client": "web" };
  if (token()) headers["Authorization"] = "Bearer " + token();
  const response = await fetch("/api/reports/csv?name=" + encodeURIComponent(file.name), { method: "POST", headers, body: await file.text() });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  const r = { ok: response.ok, status: response.status, data };
  if (r.ok) {
    out.className = "ok";
    out.textContent = data.already_imported ? file.name + " was already imported: nothing to do."
      : "Stored " + data.rows + " report(s) from " + file.name + ".";
    await loadQueue();
    await loadDone();
  } else {
    out.className = "failed";
    out.textContent = "Nothing was stored: " + problem(r);
  }
}

async function claim(jobId) {
  const r = await api("POST", "/api/jobs/" + jobId + "/claim", {});
  $("#queue-message").textContent = r.ok ? "Claimed job " + jobId + "." : ((r.data && r.data.detail) || ("error " + r.status));
  await loadQueue();
}

function startReport(job) {
  const form = $("#report-form");
  form.reset();
  clearErrors();
  $("#job_id").value = job.job_id;
  $("#composition").value = job.composition || "";
  $("#method").value = "";
  $("#report-message").textContent = "Reporting job " + job.job_id + ": correct the composition if what was made differs.";
  $("#composition").focus();
}

function clearErrors() {
  document.querySelectorAll("#report-form .error").forEach((el) => { el.textContent = ""; });
  document.querySelectorAll("#report-form [aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

function showErrors(errors) {
  const unplaced = [];
  for (const e of errors) {
    const slot = document.querySelector('#report-form .error[data-for="' + CSS.escape(e.field) + '"]');
    if (slot) {
      slot.textContent = e.message;
      const input = document.getElementById(e.field) || document.getElementById("m-" + e.field);
      if (input) input.setAttribute("aria-invalid", "true");
    } else {
      unplaced.push(e.field + ": " + e.message);
    }
  }
  return unplaced;
}

function reportBody() {
  const value = (id) => { const v = $("#" + id).value.trim(); return v === "" ? null : v; };
  const body = {
    job_id: value("job_id"), sample_id: value("sample_id"), composition: $("#composition").value,
    method: value("method"), result: $("#result").value, normalize: $("#normalize").checked,
    reporter: value("reporter"), notes: value("notes"), correction_of: value("correction_of"), reason: value("reason"),
    measurements: {},
  };
  document.querySelectorAll("#report-form [data-quantity]").forEach((input) => {
    const v = input.value.trim();
    if (v !== "") {
      const q = input.dataset.quantity;
      body.measurements[q] = { value: v, unit: document.querySelector('[data-unit-for="' + q + '"]').value };
    }
  });
  return body;
}

async function submitReport(event) {
  event.preventDefault();
  clearErrors();
  const message = $("#report-message");
  message.className = "";
  message.textContent = "Sending...";
  const r = await api("POST", "/api/reports", reportBody());
  if (r.ok) {
    const o = r.data;
    message.className = "ok";
    message.textContent = "Recorded outcome " + o.outcome_id + ": " + o.composition + " " + o.result +
      (o.revision > 1 ? " (revision " + o.revision + ", supersedes outcome " + o.supersedes_id + ")" : "") + ".";
    $("#report-form").reset();
    await loadQueue();
    await loadDone();
    await loadHistory({ outcome_id: o.outcome_id });
    return;
  }
  message.className = "failed";
  const errors = (r.data && r.data.errors) || [];
  const unplaced = showErrors(errors);
  message.textContent = (r.status === 422 ? "Nothing was saved: please fix the marked fields." : problem(r)) +
    (unplaced.length ? " " + unplaced.join("; ") : "");
}

async function loadHistory(query) {
  const params = new URLSearchParams(query);
  const r = await api("GET", "/api/history?" + params.toString());
  const body = $("#history tbody");
  body.replaceChildren();
  if (!r.ok) { $("#history-message").textContent = problem(r); return; }
  $("#history-message").textContent = r.data.length ? "" : "No reports yet.";
  for (const o of r.data) {
    const tr = document.createElement("tr");
    if (!o.is_current) tr.className = "superseded";
    for (const v of [o.outcome_id, o.revision, o.composition, o.result, o.processing, measured(o.measurements), o.sample_id,
                     o.notes, o.reporter, localTime(o.created_at), o.reason, o.is_current ? "yes" : "superseded"]) cell(tr, v);
    const actions = cell(tr, "");
    if (o.is_current && o.source === "lab") actions.appendChild(button("correct this result", () => startCorrection(o), "correct"));
    body.appendChild(tr);
  }
  labelCells("history");
}

async function useToken(event) {
  if (event) event.preventDefault();
  const value = $("#token").value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  $("#token").value = "";
  if (await whoami()) { await loadQueue(); await loadDone(); }
  else { $("#queue tbody").replaceChildren(); $("#done tbody").replaceChildren(); }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#token-form").addEventListener("submit", useToken);
  $("#token-forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); whoami(); $("#queue tbody").replaceChildren(); $("#new-token").replaceChildren(); });
  $("#queue-refresh").addEventListener("click", loadQueue);
  $("#done-refresh").addEventListener("click", loadDone);
  $("#csv-form").addEventListener("submit", uploadCsv);
  $("#queue-all").addEventListener("change", loadQueue);
  $("#report-form").addEventListener("submit", submitReport);
  $("#approvals-refresh").addEventListener("click", loadApprovals);
  $("#token-create-form").addEventListener("submit", createToken);
  if (token()) useToken();
});
