// The review page's wiring: server status, the API key, the upload queue, the jobs panel.

import { Api, formatBytes } from "./api.js";
import { DocumentView } from "./documents.js";
import { JobsPanel, markdownOnly } from "./jobs.js";

const $ = (selector) => document.querySelector(selector);

// The key dialog: asked for once (the key is kept in this browser), again only when the server refuses it.
let pendingKey = null;
function askKey(reason) {
  if (pendingKey) return pendingKey;
  const dialog = $("#key-dialog");
  $("#key-reason").textContent = reason;
  const input = dialog.querySelector("input[name=key]");
  input.value = "";
  pendingKey = new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        pendingKey = null;
        resolve(dialog.returnValue === "ok" && input.value.trim() ? input.value.trim() : null);
      },
      { once: true },
    );
  });
  dialog.showModal();
  input.focus();
  return pendingKey;
}

const api = new Api({ askKey });
const server = { limits: null, vlmConfigured: false };
const queue = [];
let running = false;

async function loadServer() {
  const status = $("#server-status");
  try {
    const health = await (await fetch("/health")).json();
    server.vlmConfigured = Boolean(health.tiers && health.tiers.vlm && health.tiers.vlm.configured);
    status.textContent = `tierocr ${health.version} · ${health.status}${server.vlmConfigured ? " · VLM on" : ""}`;
    status.dataset.status = health.status;
  } catch {
    status.textContent = "server unreachable";
    status.dataset.status = "unavailable";
  }
  try {
    const info = await api.json("/api/info");
    server.limits = info.limits;
    $("#limits").textContent = `up to ${formatBytes(info.limits.max_upload_bytes)} and ${info.limits.max_pages} pages per file`;
  } catch (err) {
    $("#limits").textContent = err.message;
  }
  document.body.dataset.ready = "true";
}

function options() {
  const form = $("#options");
  const out = {};
  for (const name of ["pages", "enable_layout", "escalate"]) out[name] = form.elements[name].value.trim();
  return out;
}

function addDocument(view) {
  $("#documents").prepend(view.section);
  return view;
}

async function pump() {
  if (running) return;
  running = true;
  while (queue.length) await queue.shift().stream();
  running = false;
}

async function addFiles(files) {
  const background = $("#options").elements.background.checked;
  for (const file of files) {
    const limit = server.limits && server.limits.max_upload_bytes;
    if (limit && file.size > limit) {
      const view = addDocument(new DocumentView({ api, name: file.name }));
      view.fail(`${file.name} is ${formatBytes(file.size)}, over this server's upload limit of ${formatBytes(limit)}.`);
      continue;
    }
    if (background) {
      try {
        await jobs.submit(file, options());
      } catch (err) {
        addDocument(new DocumentView({ api, name: file.name })).fail(err.message);
      }
      continue;
    }
    queue.push(addDocument(new DocumentView({ api, name: file.name, file, options: options(), vlmConfigured: server.vlmConfigured })));
  }
  pump();
}

const jobs = new JobsPanel({
  api,
  root: $("#jobs"),
  open: async (job) => {
    if (job.result && job.result.document) {
      const view = addDocument(new DocumentView({ api, name: job.name, vlmConfigured: server.vlmConfigured }));
      try {
        await view.showDocument(job.result.document);
      } catch (err) {
        view.fail(err.message);
      }
    } else if (job.result) {
      $("#documents").prepend(markdownOnly(job));
    }
  },
});

function wireUpload() {
  $("#options").addEventListener("submit", (e) => e.preventDefault());
  const drop = $("#drop");
  const input = $("#file-input");
  input.addEventListener("change", () => {
    addFiles([...input.files]);
    input.value = "";
  });
  for (const kind of ["dragenter", "dragover"]) {
    drop.addEventListener(kind, (e) => {
      e.preventDefault();
      drop.classList.add("dragging");
    });
  }
  for (const kind of ["dragleave", "drop"]) drop.addEventListener(kind, () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    addFiles([...e.dataTransfer.files]);
  });
  // A file dropped beside the zone must not make the browser navigate away from the results.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  $("#key-button").addEventListener("click", async () => {
    const key = await askKey("The API key is kept in this browser only.");
    if (key) {
      api.setKey(key);
      await loadServer();
      await jobs.refresh();
    }
  });
}

wireUpload();
await loadServer();
await jobs.refresh();
