// One document under review: its progress while pages stream in, its page cards, its downloads.
// The Document JSON is assembled from the streamed pages (each event carries the whole Page), so what is
// downloaded is what the API returns; Markdown and chunks come from the server's renderers (/api/render).

import { el, pageCard, pageJson, tierBadge } from "./page-view.js";

let counter = 0;

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const stem = (name) => name.replace(/\.[^.]+$/, "") || "document";

export class DocumentView {
  constructor({ api, name, file = null, options = {}, vlmConfigured = false }) {
    this.api = api;
    this.id = `doc-${++counter}`;
    this.name = name;
    this.file = file;
    this.options = options;
    this.vlmConfigured = vlmConfigured;
    this.header = null;
    this.pages = new Map();
    this.rendered = null;
    this.build();
  }

  build() {
    this.progress = el("progress", { max: 1, value: 0, "aria-label": `progress of ${this.name}` });
    this.status = el("span", { class: "doc-status", role: "status", text: "queued" });
    this.error = el("p", { class: "error", role: "alert", hidden: true });
    this.tiers = el("span", { class: "doc-tiers" });
    const button = (what, label) =>
      el("button", { type: "button", class: `download download-${what}`, disabled: true, text: label, onclick: () => this.download(what) });
    this.downloads = [button("md", "Markdown"), button("json", "JSON"), button("chunks", "RAG chunks")];
    this.retry = el("button", { type: "button", class: "retry", hidden: true, text: "Try again" });
    this.pagesEl = el("div", { class: "pages" });
    this.section = el(
      "section",
      { class: "document", id: this.id, "data-state": "queued" },
      el(
        "header",
        { class: "doc-head" },
        el("h2", { text: this.name }),
        this.status,
        this.tiers,
        el("span", { class: "spacer" }),
        el("span", { class: "downloads" }, "Download:", ...this.downloads),
      ),
      el("div", { class: "doc-progress" }, this.progress),
      this.error,
      this.retry,
      this.pagesEl,
    );
  }

  setState(state, text) {
    this.section.dataset.state = state;
    this.status.textContent = text;
  }

  fail(message) {
    this.error.textContent = message;
    this.error.hidden = false;
    this.setState("failed", "failed");
    this.progress.hidden = true;
  }

  // Parse through the SSE stream; pages appear as they are done.
  async stream() {
    this.error.hidden = true;
    this.retry.hidden = true;
    this.progress.hidden = false;
    this.setState("running", "uploading…");
    const form = new FormData();
    form.append("file", this.file, this.file.name);
    form.append("page_images", "true");
    for (const [key, value] of Object.entries(this.options)) if (value) form.append(key, value);
    try {
      await this.api.stream("/api/ocr/document/stream", form, (kind, data) => this.onEvent(kind, data));
      if (this.section.dataset.state === "running") this.fail("The stream ended before the document was done.");
    } catch (err) {
      this.fail(err.message);
      // worth trying again only when the server was busy, slow or unreachable, not when it refused the file
      this.retry.hidden = !(err.status === 0 || err.status === 429 || err.status >= 500);
      this.retry.onclick = () => this.stream();
    }
  }

  onEvent(kind, data) {
    if (kind === "progress") {
      if (data.source !== undefined) this.header = data;
      this.progress.max = data.pages_selected || 1;
      this.progress.value = data.pages_done;
      this.setState("running", `${data.pages_done} / ${data.pages_selected} pages`);
    } else if (kind === "page") {
      this.addPage(data);
    } else if (kind === "summary") {
      if (data.metadata !== undefined) this.header = { ...this.header, metadata: data.metadata };
      this.progress.value = this.progress.max;
      this.setState("done", `${data.pages_parsed} of ${data.page_count} pages in ${data.seconds.toFixed(1)} s`);
      this.showTiers(data.tiers);
      this.downloads.forEach((b) => (b.disabled = false));
    } else if (kind === "error") {
      this.fail(data.detail || "The parse failed.");
    }
  }

  showTiers(tiers) {
    this.tiers.replaceChildren(...Object.entries(tiers).map(([tier, n]) => el("span", {}, tierBadge(tier), ` ×${n}`)));
  }

  addPage(page) {
    this.pages.set(page.number, page);
    const rerun = {
      enabled: this.vlmConfigured && this.file !== null,
      why: !this.vlmConfigured
        ? "No vision-language model is configured on this server (TIEROCR_VLM_URL)"
        : "The file is not in this browser (opened from a job), so it cannot be sent again",
      run: (n) => this.rerun(n),
    };
    const card = pageCard(page, { docId: this.id, rerun });
    // Pages arrive in order from one stream, but keep the order whatever the source.
    const after = [...this.pagesEl.children].find((c) => Number(c.dataset.page) > page.number);
    this.pagesEl.insertBefore(card, after || null);
  }

  // The same page parsed again with escalation forced, for the side-by-side comparison.
  async rerun(number) {
    const form = new FormData();
    form.append("file", this.file, this.file.name);
    form.append("pages", String(number));
    form.append("escalate", "always");
    form.append("format", "both");
    if (this.options.enable_layout) form.append("enable_layout", this.options.enable_layout);
    const result = await this.api.json("/api/ocr/document", { method: "POST", body: form });
    const page = result.document.pages[0];
    return { ...page, markdown: result.markdown };
  }

  // The Document JSON exactly as /api/ocr/document returns it under `document`.
  documentJson() {
    const h = this.header || {};
    const pages = [...this.pages.keys()].sort((a, b) => a - b).map((n) => pageJson(this.pages.get(n)));
    return { source: h.source, mime_type: h.mime_type, page_count: h.page_count, pages, metadata: h.metadata || {} };
  }

  async download(what) {
    const name = stem(this.name);
    try {
      if (what === "json") {
        download(`${name}.json`, JSON.stringify(this.documentJson(), null, 2), "application/json");
        return;
      }
      this.rendered = this.rendered || (await this.api.postJson("/api/render", this.documentJson()));
      if (what === "md") download(`${name}.md`, this.rendered.markdown, "text/markdown");
      else download(`${name}.chunks.jsonl`, this.rendered.chunks.map((c) => JSON.stringify(c)).join("\n") + "\n", "application/x-ndjson");
    } catch (err) {
      this.error.textContent = err.message;
      this.error.hidden = false;
    }
  }

  // A finished job's Document: per-page Markdown from /api/render, no page images (jobs keep none).
  async showDocument(document) {
    this.header = { source: document.source, mime_type: document.mime_type, page_count: document.page_count, metadata: document.metadata };
    this.rendered = await this.api.postJson("/api/render", document);
    const tiers = {};
    document.pages.forEach((page, i) => {
      tiers[page.tier] = (tiers[page.tier] || 0) + 1;
      this.addPage({ ...page, ...this.rendered.pages[i] });
    });
    this.progress.hidden = true;
    this.showTiers(tiers);
    this.setState("done", `${document.pages.length} of ${document.page_count} pages (from a job)`);
    this.downloads.forEach((b) => (b.disabled = false));
  }
}
