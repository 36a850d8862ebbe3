// Renders /api/v1/openapi.json as a readable page (served from the binary; no CDN).
"use strict";
(async function () {
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const doc = document.getElementById("doc");
  let spec;
  try { spec = await (await fetch("/api/v1/openapi.json")).json(); } catch (e) { doc.textContent = "Cannot load the OpenAPI document: " + e; return; }
  const refName = (r) => r.split("/").pop();
  const schemaText = (s) => {
    if (!s) return "";
    if (s.$ref) return `<a href="#schema-${esc(refName(s.$ref))}">${esc(refName(s.$ref))}</a>`;
    if (s.type === "array") return "array of " + schemaText(s.items);
    if (s.oneOf) return s.oneOf.map(schemaText).join(" | ");
    const t = Array.isArray(s.type) ? s.type.join(" | ") : s.type;
    return esc(t || "object");
  };
  let html = `<h1>${esc(spec.info.title)} <span class="pill">${esc(spec.info.version)}</span> <span class="pill">OpenAPI ${esc(spec.openapi)}</span></h1><p>${esc(spec.info.description || "")}</p>
  <h2 id="auth">Authentication</h2><p>Send <code>Authorization: Bearer &lt;token&gt;</code>. Create tokens with <code>tessera tokens create --scope read|trade|admin</code>; scopes nest (admin ⊃ trade ⊃ read). Health, readiness, this page and the OpenAPI document need no token.</p>
  <h2 id="errors">Errors</h2><p>Every error is <code>application/problem+json</code>: <code>{"type", "title", "status", "detail", "param"}</code>; <code>detail</code> says what was wrong with which parameter.</p><ul>
  ${["invalid-parameter", "invalid-body", "body-too-large", "unauthorized", "forbidden", "not-found", "conflict", "rate-limited", "method-not-allowed", "unavailable", "internal"].map((p) => `<li id="problem-${p}"><code>/docs#problem-${p}</code></li>`).join("")}</ul>`;
  const byTag = {};
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || "other";
      (byTag[tag] = byTag[tag] || []).push({ path, method, op });
    }
  }
  for (const [tag, ops] of Object.entries(byTag)) {
    html += `<h2 id="tag-${esc(tag)}">${esc(tag)}</h2>`;
    for (const { path, method, op } of ops) {
      const scopes = (op.security || []).flatMap((s) => Object.values(s).flat());
      html += `<div class="op"><div><span class="method ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code> ${scopes.length ? `<span class="pill">scope: ${esc(scopes.join(", "))}</span>` : `<span class="pill">no token</span>`}</div>
        <p>${esc(op.summary || "")} ${esc(op.description || "")}</p>`;
      if (op.parameters && op.parameters.length) {
        html += `<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Required</th><th>Description</th></tr>${op.parameters.map((p) => `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${schemaText(p.schema)}</td><td>${p.required ? "yes" : ""}</td><td>${esc(p.description || "")}</td></tr>`).join("")}</table>`;
      }
      if (op.requestBody) {
        const c = op.requestBody.content || {};
        html += `<p>Body: ${Object.entries(c).map(([t, v]) => `<code>${esc(t)}</code> ${schemaText(v.schema)}`).join(", ")}</p>`;
      }
      html += `<table><tr><th>Status</th><th>Description</th><th>Body</th></tr>${Object.entries(op.responses || {}).map(([code, r]) => `<tr><td>${esc(code)}</td><td>${esc(r.description || "")}</td><td>${Object.entries(r.content || {}).map(([t, v]) => `<code>${esc(t)}</code> ${schemaText(v.schema)}`).join("<br>")}</td></tr>`).join("")}</table></div>`;
    }
  }
  html += `<h2 id="schemas">Schemas</h2>`;
  for (const [name, s] of Object.entries((spec.components && spec.components.schemas) || {})) {
    const req = new Set(s.required || []);
    html += `<div class="op" id="schema-${esc(name)}"><b>${esc(name)}</b> <span class="muted">${esc(s.description || "")}</span>`;
    if (s.properties) {
      html += `<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>${Object.entries(s.properties).map(([k, v]) => `<tr><td><code>${esc(k)}</code></td><td>${schemaText(v)}</td><td>${req.has(k) ? "yes" : ""}</td><td>${esc(v.description || "")}</td></tr>`).join("")}</table>`;
    } else {
      html += `<pre>${esc(JSON.stringify(s, null, 2))}</pre>`;
    }
    html += `</div>`;
  }
  doc.innerHTML = html;
  document.body.dataset.ready = "1";
  if (location.hash) { const el = document.getElementById(location.hash.slice(1)); if (el) el.scrollIntoView(); }
})();
