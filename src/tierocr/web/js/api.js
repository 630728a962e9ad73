// The page's only way to the server: the ordinary HTTP API, with the API key when the server wants one.
// Every failure becomes an ApiError whose message a person can act on (never a bare status code).

const KEY_STORE = "tierocr.apiKey";

export class ApiError extends Error {
  constructor(message, status = 0, detail = null) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// The server explains most refusals in `detail`; statuses it does not explain get a sentence here.
function messageFor(status, detail) {
  const text = typeof detail === "string" ? detail : Array.isArray(detail) ? detail.map((d) => d.msg).join("; ") : "";
  switch (status) {
    case 401:
      return "The server refused the API key.";
    case 413:
      return text || "The file is over this server's upload limit.";
    case 415:
      return text || "Unsupported file type: send a PDF or a PNG, JPEG, TIFF, WebP, BMP or GIF image.";
    case 429:
    case 503:
      return `The server is busy (HTTP ${status})${text ? `: ${text}` : ""}. Try again in a moment.`;
    case 504:
      return text || "The server took too long; submit large documents as a background job.";
    default:
      return text || `The server answered HTTP ${status}.`;
  }
}

export class Api {
  constructor({ askKey }) {
    this.askKey = askKey; // async (reason) => key | null; shown once, then again only if the key is refused
    this.key = localStorage.getItem(KEY_STORE) || "";
  }

  setKey(key) {
    this.key = key || "";
    if (this.key) localStorage.setItem(KEY_STORE, this.key);
    else localStorage.removeItem(KEY_STORE);
  }

  // fetch with the key; a 401 asks for a key (again only if the one sent was refused) and retries with it,
  // until the person cancels the dialog.
  async request(path, init = {}) {
    const headers = new Headers(init.headers || {});
    if (this.key) headers.set("Authorization", `Bearer ${this.key}`);
    let response;
    try {
      response = await fetch(path, { ...init, headers });
    } catch (err) {
      throw new ApiError(`Cannot reach the server (${err.message}).`);
    }
    if (response.status === 401) {
      const sent = headers.get("Authorization");
      const key = await this.askKey(sent ? "The server refused this key; enter the right one." : "This server needs an API key.");
      if (key) {
        this.setKey(key);
        return this.request(path, init);
      }
    }
    if (!response.ok) {
      let detail = null;
      try {
        detail = (await response.json()).detail;
      } catch {
        detail = null; // uvicorn's own 503 is plain text
      }
      throw new ApiError(messageFor(response.status, detail), response.status, detail);
    }
    return response;
  }

  async json(path, init = {}) {
    return (await this.request(path, init)).json();
  }

  async postJson(path, body) {
    return this.json(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  // POST a form to a server-sent-events endpoint and call onEvent(kind, data) as events arrive.
  async stream(path, form, onEvent, signal) {
    const response = await this.request(path, { method: "POST", body: form, signal });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const raw = buffer.slice(0, cut);
        buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
        const event = parseEvent(raw);
        if (event) onEvent(event.kind, event.data);
      }
    }
  }
}

function parseEvent(raw) {
  let kind = "message";
  const data = [];
  for (const line of raw.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue; // comments are keep-alive pings
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") kind = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  return { kind, data: JSON.parse(data.join("\n")) };
}
