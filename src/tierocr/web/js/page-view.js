// One page under review: its image with the layout regions, its text three ways, and why it took its tier.
// A region and its text point at each other through the block's index (block_markdown is aligned with
// blocks), so clicking either selects both.

import { renderBlockInto, renderMarkdownInto } from "./markdown.js";

// Same colours as tierocr.layout.visualize, so the page and `--layout-png` pictures agree.
const PALETTE = {
  text: [46, 134, 222], title: [231, 76, 60], paragraph_title: [231, 76, 60], doc_title: [192, 57, 43],
  figure: [39, 174, 96], image: [39, 174, 96], chart: [39, 174, 96], figure_caption: [22, 160, 133],
  table: [142, 68, 173], table_caption: [155, 89, 182], equation: [230, 126, 34],
  display_formula: [230, 126, 34], header: [127, 140, 141], footer: [127, 140, 141],
  number: [127, 140, 141], reference: [241, 196, 15],
};

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(text) {
  let c = 0xffffffff;
  for (const byte of new TextEncoder().encode(text)) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function labelColour(label) {
  const rgb = PALETTE[label] || [64 + (crc32(label) % 160), 64 + ((crc32(label) >>> 8) % 160), 64 + ((crc32(label) >>> 16) % 160)];
  return `rgb(${rgb.join(",")})`;
}

export const blockLabel = (block) => String((block.attributes && block.attributes.label) || block.kind);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const seconds = (s) => (s >= 10 ? `${s.toFixed(1)} s` : `${s.toFixed(2)} s`);
const number = (v) => (Number.isInteger(v) ? String(v) : Number(v).toFixed(3));

export function tierBadge(tier) {
  return el("span", { class: `tier tier-${tier}`, "data-tier": tier, text: tier.replace("_", " ") });
}

export function verdictBadge(quality) {
  if (!quality) return el("span", { class: "verdict verdict-none", text: "not judged" });
  const score = quality.score === null || quality.score === undefined ? "" : ` ${number(quality.score)}`;
  return el("span", {
    class: `verdict ${quality.accepted ? "verdict-ok" : "verdict-bad"}`,
    text: `${quality.accepted ? "gate: kept" : "gate: rejected"}${score ? ` ·${score}` : ""}`,
  });
}

function table(rows, caption) {
  if (!rows.length) return null;
  return el(
    "table",
    { class: "facts" },
    el("caption", { text: caption }),
    el("tbody", {}, rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v })))),
  );
}

// Why the page took its tier: the reason, the gate's verdict with every signal, diagnostics, timings.
export function factsFor(page) {
  const quality = page.quality;
  const parts = [el("p", { class: "reason" }, tierBadge(page.tier), " ", page.tier_reason || "")];
  if (quality) {
    parts.push(el("p", {}, verdictBadge(quality)));
    if (quality.reasons && quality.reasons.length) {
      parts.push(el("ul", { class: "reasons" }, quality.reasons.map((r) => el("li", { text: r }))));
    }
    const signals = Object.entries(quality.signals || {});
    if (signals.length) parts.push(table(signals.map(([k, v]) => [k, number(v)]), "Gate signals (all that fired)"));
    else parts.push(el("p", { class: "muted", text: "No gate signal fired." }));
  } else {
    parts.push(el("p", { class: "muted", text: "The quality gate did not judge this page." }));
  }
  parts.push(table(Object.entries(page.diagnostics || {}).map(([k, v]) => [k, number(v)]), "Diagnostics"));
  parts.push(table(Object.entries(page.timings || {}).map(([k, v]) => [k, seconds(v)]), "Timings"));
  if (page.errors && page.errors.length) {
    parts.push(el("ul", { class: "errors" }, page.errors.map((e) => el("li", { text: `${e.stage}: ${e.message}` }))));
  }
  return parts;
}

// The page image (or a blank sheet of the page's shape) with one numbered, coloured box per region.
function figureFor(page, select) {
  const W = page.width || 1;
  const H = page.height || 1;
  const stage = el("div", { class: "stage", style: `aspect-ratio: ${W} / ${H}; --ar: ${(W / H).toFixed(4)}` });
  if (page.image) {
    stage.append(el("img", { src: `data:${page.image.media_type};base64,${page.image.data}`, alt: `page ${page.number}` }));
  } else {
    stage.classList.add("no-image");
    stage.append(el("span", { class: "no-image-note", text: "no page image (job results keep none)" }));
  }
  // Boxes are positioned in percent of the page, so they fit the image at any size; their number tags
  // are in screen pixels, legible on a phone as on a desktop.
  const overlay = el("div", { class: "regions" });
  const labels = new Set();
  const pct = (v, total) => `${((v / total) * 100).toFixed(3)}%`;
  let n = 0;
  page.blocks.forEach((block, index) => {
    if (!block.bbox) return;
    n += 1;
    const label = blockLabel(block);
    labels.add(label);
    const { x0, y0, x1, y1 } = block.bbox;
    const box = el(
      "div",
      {
        class: `region${y0 / H < 0.03 ? " tag-inside" : ""}`,
        "data-block": index,
        "data-label": label,
        tabindex: 0,
        role: "button",
        "aria-label": `region ${n}: ${label}`,
        title: `${n} ${label}`,
        style: `--c: ${labelColour(label)}; left: ${pct(x0, W)}; top: ${pct(y0, H)}; width: ${pct(x1 - x0, W)}; height: ${pct(y1 - y0, H)}`,
        onclick: () => select(index, "region"),
        onkeydown: (e) => e.key === "Enter" && select(index, "region"),
      },
      el("span", { class: "tag", text: String(n) }),
    );
    overlay.append(box);
  });
  stage.append(overlay);
  const legend = el(
    "figcaption",
    { class: "legend" },
    [...labels].map((label) => el("span", { class: "swatch", style: `--c: ${labelColour(label)}`, text: label })),
  );
  return el("figure", { class: "page-figure" }, stage, legend);
}

// Rendered and raw views, one element per block that has Markdown, tagged with the block's index.
function textViews(page, select) {
  const rendered = el("div", { class: "view view-rendered markdown-body", role: "tabpanel" });
  const raw = el("pre", { class: "view view-raw", role: "tabpanel", hidden: true });
  const parts = page.block_markdown || [];
  let first = true;
  let n = 0;
  page.blocks.forEach((block, index) => {
    if (block.bbox) n += 1;
    const md = parts[index] || "";
    if (!md) return;
    const div = el("div", { class: "block", "data-block": index, "data-kind": block.kind, title: block.bbox ? `region ${n}` : null });
    renderBlockInto(div, block, md);
    div.addEventListener("click", (e) => !e.target.closest("a") && select(index, "text"));
    rendered.append(div);
    if (!first) raw.append("\n\n");
    first = false;
    raw.append(el("span", { class: "block", "data-block": index, text: md, onclick: () => select(index, "text") }));
  });
  if (!rendered.childElementCount) rendered.append(el("p", { class: "muted", text: "This page has no text." }));
  const json = el("pre", { class: "view view-json", role: "tabpanel", hidden: true });
  return { rendered, raw, json };
}

// The page in the shape of the Document JSON's pages (what a download or the API holds).
export function pageJson(page) {
  const { markdown, block_markdown, image, ...rest } = page;
  return rest;
}

export function pageCard(page, { docId, rerun }) {
  const card = el("article", { class: "page-card", id: `${docId}-page-${page.number}`, "data-page": page.number, "data-tier": page.tier });
  let selected = null;
  const select = (index, from) => {
    if (selected !== null) card.querySelectorAll(`[data-block="${selected}"]`).forEach((n) => n.classList.remove("selected"));
    selected = selected === index && from !== "text" ? null : index;
    if (selected === null) return;
    const nodes = card.querySelectorAll(`[data-block="${index}"]`);
    nodes.forEach((n) => n.classList.add("selected"));
    const target = from === "region" ? card.querySelector(`.view:not([hidden]) [data-block="${index}"]`) : card.querySelector(`.region[data-block="${index}"]`);
    if (target) target.scrollIntoView({ block: "nearest", behavior: "smooth" });
  };

  const views = textViews(page, select);
  const tabs = el("div", { class: "tabs", role: "tablist" });
  const show = (name) => {
    for (const [key, view] of Object.entries(views)) view.hidden = key !== name;
    tabs.querySelectorAll("button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.view === name)));
    if (name === "json" && !views.json.textContent) views.json.textContent = JSON.stringify(pageJson(page), null, 2);
  };
  for (const [name, label] of [["rendered", "Rendered"], ["raw", "Markdown"], ["json", "JSON"]]) {
    tabs.append(el("button", { type: "button", role: "tab", "data-view": name, "aria-selected": String(name === "rendered"), text: label, onclick: () => show(name) }));
  }

  const total = page.timings && page.timings.total;
  const compare = el("section", { class: "compare", hidden: true });
  const rerunButton = el("button", {
    type: "button",
    class: "rerun",
    disabled: !rerun.enabled,
    title: rerun.enabled ? "Read this page again with the vision-language model and compare" : rerun.why,
    text: "Re-run with VLM",
    onclick: async () => {
      rerunButton.disabled = true;
      rerunButton.textContent = "Re-running…";
      compare.hidden = false;
      compare.replaceChildren(el("p", { class: "muted", text: "Reading the page again with escalation forced…" }));
      try {
        const again = await rerun.run(page.number);
        compare.replaceChildren(comparison(page, again));
      } catch (err) {
        compare.replaceChildren(el("p", { class: "error", role: "alert", text: err.message }));
      } finally {
        rerunButton.disabled = false;
        rerunButton.textContent = "Re-run with VLM";
      }
    },
  });

  card.append(
    el(
      "header",
      { class: "page-head" },
      el("h3", { text: `Page ${page.number}` }),
      tierBadge(page.tier),
      verdictBadge(page.quality),
      total !== undefined ? el("span", { class: "timing", text: seconds(total) }) : null,
      el("span", { class: "spacer" }),
      rerunButton,
    ),
    el(
      "div",
      { class: "page-body" },
      figureFor(page, select),
      el("section", { class: "page-text" }, tabs, views.rendered, views.raw, views.json),
    ),
    el("details", { class: "page-facts", open: true }, el("summary", { text: "Why this tier" }), ...factsFor(page).filter(Boolean)),
    compare,
  );
  return card;
}

// This run's page beside the page read again with escalation forced.
function comparison(before, after) {
  const side = (title, page) => {
    const body = el("div", { class: "markdown-body" });
    renderMarkdownInto(body, page.markdown || "");
    return el(
      "div",
      { class: "side", "data-tier": page.tier },
      el("h4", {}, `${title} `, tierBadge(page.tier), " ", verdictBadge(page.quality)),
      el("p", { class: "reason", text: page.tier_reason || "" }),
      body,
    );
  };
  return el("div", { class: "sides" }, side("This run", before), side("Escalation forced", after));
}
