// Recent async jobs (GET /api/jobs): their status, and a finished one opened like a streamed document.
// Jobs that are still running are followed with the API's long poll (?wait=), not a timer.

import { el } from "./page-view.js";
import { renderMarkdownInto } from "./markdown.js";

const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const WAIT_S = 25;

function when(epoch) {
  const d = new Date(epoch * 1000);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

export class JobsPanel {
  constructor({ api, root, open }) {
    this.api = api;
    this.root = root;
    this.open = open; // (job record with result) => void
    this.watching = new Set();
    this.list = root.querySelector(".jobs-list");
    this.note = root.querySelector(".jobs-note");
    root.querySelector(".jobs-refresh").addEventListener("click", () => this.refresh());
  }

  async refresh() {
    let jobs;
    try {
      jobs = (await this.api.json("/api/jobs?limit=20")).jobs;
    } catch (err) {
      this.note.textContent = err.message;
      this.note.classList.add("error");
      return;
    }
    this.note.classList.remove("error");
    this.note.textContent = jobs.length ? "" : "No jobs yet. Tick “background job” to queue a document.";
    this.list.replaceChildren(...jobs.map((job) => this.row(job)));
    for (const job of jobs) if (!FINAL.has(job.status)) this.watch(job.id);
  }

  row(job) {
    const progress = job.progress.page_count ? `${job.progress.pages_done} / ${job.progress.page_count}` : "–";
    const actions = [];
    if (job.status === "succeeded") {
      actions.push(el("button", { type: "button", class: "job-open", text: "Open", onclick: () => this.openJob(job.id) }));
    } else if (!FINAL.has(job.status)) {
      actions.push(el("button", { type: "button", class: "job-cancel", text: "Cancel", onclick: () => this.cancel(job.id) }));
    }
    return el(
      "li",
      { class: "job", "data-job": job.id, "data-status": job.status },
      el("span", { class: "job-name", text: job.name, title: job.id }),
      el("span", { class: `job-status status-${job.status}`, text: job.status }),
      el("span", { class: "job-pages", text: progress }),
      el("span", { class: "job-time", text: when(job.created_at) }),
      el("span", { class: "job-actions" }, ...actions),
      job.error ? el("span", { class: "job-error", text: job.error }) : null,
    );
  }

  async submit(file, options) {
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("format", "both");
    for (const [key, value] of Object.entries(options)) if (value) form.append(key, value);
    const job = await this.api.json("/api/jobs", { method: "POST", body: form });
    await this.refresh();
    return job;
  }

  async watch(id) {
    if (this.watching.has(id)) return;
    this.watching.add(id);
    try {
      for (;;) {
        const job = await this.api.json(`/api/jobs/${id}?wait=${WAIT_S}`);
        const row = this.list.querySelector(`[data-job="${id}"]`);
        if (row) row.replaceWith(this.row(job));
        if (FINAL.has(job.status)) break;
      }
    } catch (err) {
      this.note.textContent = err.message;
    } finally {
      this.watching.delete(id);
    }
  }

  async cancel(id) {
    try {
      await this.api.json(`/api/jobs/${id}`, { method: "DELETE" });
    } catch (err) {
      this.note.textContent = err.message;
    }
    await this.refresh();
  }

  async openJob(id) {
    try {
      this.open(await this.api.json(`/api/jobs/${id}`));
    } catch (err) {
      this.note.textContent = err.message;
    }
  }
}

// A job whose result is Markdown only (format=md): no pages to map, just the text.
export function markdownOnly(job) {
  const body = el("div", { class: "markdown-body" });
  renderMarkdownInto(body, job.result.markdown || "");
  return el("section", { class: "document", "data-state": "done" }, el("header", { class: "doc-head" }, el("h2", { text: job.name })), body);
}
