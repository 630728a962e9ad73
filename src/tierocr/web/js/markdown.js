// Turning a block's Markdown into safe HTML: marked for the Markdown, KaTeX for formulas, and an allowlist
// sanitiser in between, because OCR text is untrusted input (a scanned page can say "<script>").

const ALLOWED = new Set([
  "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "b", "i", "u",
  "s", "del", "code", "pre", "blockquote", "table", "thead", "tbody", "tfoot", "tr", "th", "td",
  "caption", "colgroup", "col", "sup", "sub", "span", "div", "a",
]);
// Dropped with everything inside: their content is code, styling or a nested document, never page text.
const DROPPED = new Set([
  "script", "style", "iframe", "object", "embed", "template", "noscript", "textarea", "select",
  "svg", "math", "link", "meta", "title", "head", "frame", "frameset", "img", "video", "audio", "form",
]);
const CELL_ATTRS = new Set(["colspan", "rowspan", "align"]);

function cleanNode(node, out) {
  for (const child of Array.from(node.childNodes)) {
    if (child.nodeType === Node.TEXT_NODE) {
      out.appendChild(document.createTextNode(child.textContent));
      continue;
    }
    if (child.nodeType !== Node.ELEMENT_NODE) continue; // comments, processing instructions
    const tag = child.localName;
    if (DROPPED.has(tag)) continue;
    if (!ALLOWED.has(tag)) {
      cleanNode(child, out); // unknown wrapper: keep its text
      continue;
    }
    const el = document.createElement(tag);
    for (const attr of Array.from(child.attributes)) {
      const name = attr.name.toLowerCase();
      if (CELL_ATTRS.has(name) && /^[0-9a-z]{1,8}$/i.test(attr.value)) el.setAttribute(name, attr.value);
      if (tag === "a" && name === "href" && /^(https?:|#)/i.test(attr.value.trim())) {
        el.setAttribute("href", attr.value.trim());
        el.setAttribute("rel", "noopener noreferrer");
        el.setAttribute("target", "_blank");
      }
    }
    cleanNode(child, el);
    out.appendChild(el);
  }
  return out;
}

// A fragment holding only allowed elements and attributes; parsed in an inert <template>.
export function sanitize(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  return cleanNode(template.content, document.createDocumentFragment());
}

// Math is cut out before Markdown sees it (Markdown would eat LaTeX's backslashes and underscores) and put
// back, typeset, after sanitising. Inline `$x$` follows Pandoc's rule (no space inside the dollars, no digit
// after the closing one), so "$5 and $10" stays text.
const MATH = /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([\s\S]+?)\\\)|(?<![\\$\w])\$(?=\S)([^$\n]+?)(?<=\S)\$(?!\d)/g;
const SLOT = /@@MATH(\d+)@@/;

function protectMath(source) {
  const found = [];
  const text = source.replace(MATH, (_, display, bracket, paren, inline) => {
    found.push({ tex: display ?? bracket ?? paren ?? inline, display: display !== undefined || bracket !== undefined });
    return `@@MATH${found.length - 1}@@`;
  });
  return { text, found };
}

function typeset(tex, display) {
  const span = document.createElement("span");
  if (window.katex) {
    window.katex.render(tex.trim(), span, { displayMode: display, throwOnError: false });
  } else {
    span.textContent = display ? `$$${tex}$$` : `$${tex}$`;
  }
  return span;
}

// Replace the placeholders left in text nodes by the typeset formulas.
function restoreMath(root, found) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) if (SLOT.test(n.textContent)) nodes.push(n);
  for (const node of nodes) {
    const parts = node.textContent.split(SLOT); // text, index, text, index, ...
    const frag = document.createDocumentFragment();
    parts.forEach((part, i) => {
      if (i % 2 === 0) {
        if (part) frag.appendChild(document.createTextNode(part));
      } else {
        const item = found[Number(part)];
        frag.appendChild(item ? typeset(item.tex, item.display) : document.createTextNode(part));
      }
    });
    node.replaceWith(frag);
  }
}

function renderSource(el, source, isHtml) {
  const { text, found } = protectMath(source);
  const html = isHtml ? text : window.marked.parse(text, { gfm: true });
  const fragment = sanitize(html);
  restoreMath(fragment, found);
  el.appendChild(fragment);
}

// Fill `el` with one block rendered: formulas by KaTeX, tables from their HTML, the rest from Markdown.
export function renderBlockInto(el, block, markdown) {
  if (block.kind === "formula") {
    const body = (block.latex || block.text || "").trim() || markdown.replace(/^\$\$\s*|\s*\$\$$/g, "");
    el.appendChild(typeset(body, true));
    el.classList.add("formula");
    return;
  }
  if (block.kind === "table" && block.html) renderSource(el, block.html, true);
  else renderSource(el, markdown, false);
}

// A whole page's Markdown (the "forced VLM" side of a comparison, a Markdown-only job result).
export function renderMarkdownInto(el, markdown) {
  renderSource(el, markdown, false);
}
