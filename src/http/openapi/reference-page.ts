/**
 * GET /docs: the OpenAPI document as one HTML page, rendered on the server. Self-contained — no
 * script, no stylesheet or font from elsewhere — because the relay often runs where nothing
 * outside can be reached (and a CDN-hosted explorer would be one more thing to trust).
 */
import type { OpenApiDocument } from './document.ts';

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const json = (v: unknown) => `<pre>${esc(JSON.stringify(v, null, 2))}</pre>`;

type Operation = {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security: Record<string, unknown>[];
  parameters?: { name: string; in: string; required: boolean; schema: unknown; description?: string }[];
  requestBody?: { content: Record<string, { schema: unknown; examples?: Record<string, { summary: string; value: unknown }> }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
};

function operationHtml(method: string, path: string, op: Operation): string {
  const auth = op.security.length === 0 ? 'none' : op.security.map((s) => Object.keys(s)[0]).join(' or ');
  const parts = [
    `<section id="${esc(op.operationId)}"><h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>`,
    `<p><strong>${esc(op.summary)}</strong></p>`,
    op.description ? `<p>${esc(op.description)}</p>` : '',
    `<p>Auth: <code>${esc(auth)}</code></p>`,
  ];
  if (op.parameters?.length) {
    parts.push('<table><tr><th>Parameter</th><th>In</th><th>Required</th><th>Schema</th></tr>');
    for (const p of op.parameters)
      parts.push(
        `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required ? 'yes' : 'no'}</td><td><code>${esc(JSON.stringify(p.schema))}</code></td></tr>`,
      );
    parts.push('</table>');
  }
  for (const [type, body] of Object.entries(op.requestBody?.content ?? {})) {
    parts.push(`<details><summary>Request body (${esc(type)})</summary>${json(body.schema)}</details>`);
    for (const ex of Object.values(body.examples ?? {})) parts.push(`<details><summary>Example: ${esc(ex.summary)}</summary>${json(ex.value)}</details>`);
  }
  parts.push('<table><tr><th>Status</th><th>Meaning</th></tr>');
  for (const [status, r] of Object.entries(op.responses)) {
    const schema = Object.values(r.content ?? {})[0]?.schema;
    parts.push(`<tr><td>${esc(status)}</td><td>${esc(r.description)}${schema ? `<details><summary>Body</summary>${json(schema)}</details>` : ''}</td></tr>`);
  }
  parts.push('</table></section>');
  return parts.join('\n');
}

export function referencePage(doc: OpenApiDocument): string {
  const byTag = new Map<string, string[]>();
  const toc: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, raw] of Object.entries(methods)) {
      const op = raw as Operation;
      const tag = op.tags[0] ?? 'other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)!.push(operationHtml(method, path, op));
      toc.push(`<li><a href="#${esc(op.operationId)}">${esc(method.toUpperCase())} ${esc(path)}</a></li>`);
    }
  }
  const tagText = new Map(doc.tags.map((t) => [t.name, t.description]));
  const schemes = Object.entries(doc.components.securitySchemes)
    .map(([name, s]) => `<li><code>${esc(name)}</code>: ${esc((s as { description: string }).description)}</li>`)
    .join('\n');
  const sections = [...byTag.entries()].map(([tag, ops]) => `<h2>${esc(tag)}</h2><p>${esc(tagText.get(tag) ?? '')}</p>${ops.join('\n')}`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.info.title)} API ${esc(doc.info.version)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
code,pre{font:13px ui-monospace,monospace}pre{background:#f5f5f5;padding:.6em;overflow:auto}
section{border-top:1px solid #ddd;padding:.5em 0}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}
.m{display:inline-block;min-width:4.5em;padding:0 .3em;color:#fff;border-radius:3px;text-align:center}
.get{background:#2b6cb0}.post{background:#2f855a}.delete{background:#c53030}.put,.patch{background:#b7791f}
</style></head><body>
<h1>${esc(doc.info.title)} API <small>${esc(doc.info.version)}</small></h1>
<p>${esc(doc.info.description)}</p>
<p>Machine-readable: <a href="openapi.json">/openapi.json</a> (OpenAPI ${esc(doc.openapi)}).</p>
<h2>Authentication</h2><ul>${schemes}</ul>
<h2 id="errors">Errors</h2><p>Every error has this shape; <code>issues</code> names each bad field (and item of a batch).</p>${json(doc.components.schemas.Error)}
<h2>Routes</h2><ul>${toc.join('\n')}</ul>
${sections}
</body></html>
`;
}
