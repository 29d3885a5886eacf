"use strict";
// The ceremony's live page. It trusts nothing the server says: every
// checkpoint is verified here (Ed25519 signature by the pinned log key,
// root recomputed from the entries, consistent with the checkpoint seen
// before) before anything it adds is shown. A failure is an alarm that
// stays.

const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });
const query = new URLSearchParams(location.search);
const base = new URL(query.get("log") || "./", location.href);
// The key comes percent-encoded in the fragment; read it as such (a
// URLSearchParams would turn the + of base64 into spaces).
function fragmentParam(name) {
  for (const part of location.hash.slice(1).split("&")) {
    if (part.startsWith(name + "=")) {
      try { return decodeURIComponent(part.slice(name.length + 1)); } catch (e) { return null; }
    }
  }
  return null;
}

// The page's state, readable from outside for tests and the curious.
const state = {
  key: null, pinned: false, cp: null, entries: [], leaves: [], parsed: [],
  verified: [], failure: null, live: "",
  officers: null, cosigned: new Map(), // the officers' cosigning keys, and what they cosigned by size
};
window.keyceremony = state;

class Failure extends Error {
  constructor(check, detail) { super(check + ": " + detail); this.check = check; this.detail = detail; }
}

// b64 decodes canonical base64 only (as Go's note package writes it).
function b64(s) {
  const bin = atob(s);
  if (btoa(bin) !== s) throw new Error("not canonical base64");
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
const hex = (a) => Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
const groupHex = (h) => h.match(/.{1,4}/g).join(" ");
const words = (a) => Array.from(a, (b, i) => (i % 2 === 0 ? PGP_EVEN[b] : PGP_ODD[b])).join(" ");
const hexBytes = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
async function sha256(bytes) { return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)); }

async function fetchBytes(name, fresh) {
  const r = await fetch(new URL(name, base), { cache: fresh ? "no-store" : "default" });
  if (!r.ok) throw new Error(name + ": HTTP " + r.status);
  return new Uint8Array(await r.arrayBuffer());
}

// A note verifier key: name+hash+base64(0x01 || Ed25519 public key).
async function parseKey(vkey) {
  vkey = vkey.trim();
  // As Go's note package reads it: the name ends at the first +, the key
  // hash at the next; the base64 key may hold + itself.
  const i = vkey.indexOf("+");
  const j = vkey.indexOf("+", i + 1);
  if (i <= 0 || j < 0) throw new Failure("log key", "not a note verifier key");
  const name = vkey.slice(0, i), hash = vkey.slice(i + 1, j), keyB64 = vkey.slice(j + 1);
  const k = b64(keyB64);
  if (k.length !== 33 || k[0] !== 1) throw new Failure("log key", "not an Ed25519 note key");
  const h = (await sha256(concat(enc.encode(name + "\n"), k))).slice(0, 4);
  if (hex(h) !== hash) throw new Failure("log key", "its key hash does not match the key");
  const pub = await crypto.subtle.importKey("raw", k.slice(1), { name: "Ed25519" }, false, ["verify"]);
  return { name, hash: h, pub, vkey, fingerprint: hex(await sha256(enc.encode(vkey))) };
}

// splitNote splits a signed note's text as Go's note package does, at its
// last blank line: the body (ending in a newline) and each signature line
// of the form "— name base64"; null when there is no blank line. It is the
// page's one parser of signature lines.
function splitNote(text) {
  const cut = text.lastIndexOf("\n\n");
  if (cut < 0) return null;
  const lines = [];
  for (const line of text.slice(cut + 2).split("\n")) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (m) lines.push({ name: m[1], b64: m[2] });
  }
  return { body: text.slice(0, cut + 1), lines };
}

// openCheckpoint checks the note's signature by the key and parses its body.
async function openCheckpoint(bytes, key) {
  let text;
  try { text = dec.decode(bytes); } catch (e) { throw new Failure("checkpoint signature", "the checkpoint is not UTF-8"); }
  const note = splitNote(text);
  if (!note) throw new Failure("checkpoint signature", "the checkpoint has no signature");
  const body = note.body;
  let ok = false, byKey = 0;
  for (const l of note.lines) {
    if (l.name !== key.name) continue;
    let raw;
    try { raw = b64(l.b64); } catch (e) { throw new Failure("checkpoint signature", "a signature line by the log key is not canonical base64"); }
    if (raw.length !== 68 || !equal(raw.slice(0, 4), key.hash)) continue;
    if (++byKey > 1) throw new Failure("checkpoint signature", "more than one signature line by the log key");
    ok = await crypto.subtle.verify({ name: "Ed25519" }, key.pub, raw.slice(4), enc.encode(body));
  }
  if (!ok) throw new Failure("checkpoint signature", "not signed by the log key " + key.name);
  const lines = body.split("\n");
  if (lines.length !== 4 || !/^(0|[1-9][0-9]*)$/.test(lines[1]) || !Number.isSafeInteger(Number(lines[1]))) {
    throw new Failure("checkpoint", "the body is not origin, size and root");
  }
  if (lines[0] !== key.name) throw new Failure("checkpoint origin", "the origin " + lines[0] + " is not the log key's name " + key.name);
  let root;
  try { root = b64(lines[2]); } catch (e) { throw new Failure("checkpoint", "the root is not canonical base64"); }
  if (root.length !== 32) throw new Failure("checkpoint", "the root is not a SHA-256");
  return { origin: lines[0], size: Number(lines[1]), root, note: bytes };
}

// An officer's cosigning key, as the opening entry lists it:
// name+hash+base64(0x04 || Ed25519 public key) (C2SP tlog-cosignature).
async function parseCosignKey(id, vkey) {
  const i = vkey.indexOf("+"), j = vkey.indexOf("+", i + 1);
  if (i <= 0 || j < 0) throw new Failure("cosignatures", "officer " + id + "'s key is not a note verifier key");
  const name = vkey.slice(0, i), hash = vkey.slice(i + 1, j);
  const k = b64(vkey.slice(j + 1));
  if (k.length !== 33 || k[0] !== 4) throw new Failure("cosignatures", "officer " + id + "'s key is not a cosignature/v1 Ed25519 key");
  const h = (await sha256(concat(enc.encode(name + "\n"), k))).slice(0, 4);
  if (hex(h) !== hash) throw new Failure("cosignatures", "officer " + id + "'s key hash does not match the key");
  const pub = await crypto.subtle.importKey("raw", k.slice(1), { name: "Ed25519" }, false, ["verify"]);
  return { id, name, hash: h, pub };
}

// cosignedBy checks the officers' cosignature lines of an archived
// checkpoint (checkpoints/<size>): it must be the log's checkpoint of the
// first size entries verified, and every line under an officer's key name
// must verify, over "cosignature/v1\ntime T\n" and the checkpoint body.
// It returns the officers whose cosignature verifies.
async function cosignedBy(size) {
  const bytes = await fetchBytes("checkpoints/" + size, true); // it gains cosignatures within the second
  const cp = await openCheckpoint(bytes, state.key);
  if (cp.size !== size || !equal(cp.root, await treeRoot(state.leaves, 0, size))) {
    throw new Failure("cosignatures", "checkpoints/" + size + " is not the log's checkpoint of its first " + size + " entries");
  }
  return officerLines(bytes, size);
}

// officerLines checks every line of a checkpoint note (already opened)
// under an officer's key name: each must be by a key the roster lists,
// once, and verify over "cosignature/v1\ntime T\n" and the body. It returns
// the officers whose cosignature verifies.
async function officerLines(bytes, size) {
  const note = splitNote(dec.decode(bytes)), body = enc.encode(note.body);
  const valid = [];
  for (const l of note.lines) {
    if (!/^officer\//.test(l.name)) continue;
    const raw = b64(l.b64);
    const k = state.officers.find((o) => o.name === l.name && raw.length === 76 && equal(raw.slice(0, 4), o.hash));
    if (!k) throw new Failure("cosignatures", "checkpoint " + size + ": a cosignature by " + l.name + ", a key the roster does not list");
    if (valid.includes(k.id)) throw new Failure("cosignatures", "checkpoint " + size + ": a duplicate cosignature by " + k.id);
    const t = new DataView(raw.buffer, raw.byteOffset + 4, 8).getBigUint64(0);
    const msg = concat(enc.encode("cosignature/v1\ntime " + t + "\n"), body);
    if (!await crypto.subtle.verify({ name: "Ed25519" }, k.pub, raw.slice(12), msg)) {
      throw new Failure("cosignatures", "checkpoint " + size + ": the cosignature by " + k.id + " is forged");
    }
    valid.push(k.id);
  }
  return valid;
}

// checkCosigned reads each checkpoint the entries say the officers cosigned
// (the quorum's, and the final one once the close is logged) until every
// officer named has cosigned it.
async function checkCosigned() {
  const open = state.parsed[0] || {};
  if (!state.officers) {
    state.officers = [];
    for (const [id, vkey] of Object.entries(open.officer_keys || {})) state.officers.push(await parseCosignKey(id, vkey));
  }
  if (!state.officers.length) return;
  for (const e of state.parsed) {
    let c = null;
    if (e.kind === "log.cosigned") c = { size: e.size, point: "quorum", who: e.cosigners || [], absent: [] };
    if (e.kind === "ceremony.close" && (e.cosigners || []).length) c = { size: e.seq + 1, point: "close", who: e.cosigners, absent: e.absent || [] };
    if (!c) continue;
    const got = state.cosigned.get(c.size);
    if (got && got.valid.length >= c.who.length) continue;
    let valid;
    try { valid = await cosignedBy(c.size); } catch (err) {
      if (err instanceof Failure) throw err;
      continue; // not published yet: read again with the next checkpoint
    }
    // Only the officers the log names for this checkpoint count; a valid
    // line by anyone else is a failure, as verify and watch say.
    const stranger = valid.find((id) => !c.who.includes(id));
    if (stranger) throw new Failure("cosignatures", "checkpoint " + c.size + ": not-named cosignature by " + stranger + ": the log does not name " + stranger + " among the officers cosigning checkpoint " + c.size);
    state.cosigned.set(c.size, Object.assign(c, { valid }));
  }
}

// cosignSummary words a cosigned checkpoint as verify and watch do.
function cosignSummary(c) {
  const what = c.point === "close" ? "final checkpoint " + c.size : "checkpoint " + c.size + " (quorum)";
  let s = what + ": cosigned by " + c.valid.length + " of " + c.who.length + " present officers (" + c.valid.join(", ") + ")";
  if (c.absent.length) s += "; absent: " + c.absent.join(", ");
  return s;
}

// Entry bundle paths of C2SP tlog-tiles.
function fmtN(n) {
  let s = String(n % 1000).padStart(3, "0");
  for (n = Math.floor(n / 1000); n > 0; n = Math.floor(n / 1000)) s = "x" + String(n % 1000).padStart(3, "0") + "/" + s;
  return s;
}
function parseBundle(b) {
  const out = [];
  for (let o = 0; o < b.length;) {
    if (o + 2 > b.length) throw new Failure("entry bundles", "a dangling byte");
    const n = (b[o] << 8) | b[o + 1];
    if (o + 2 + n > b.length) throw new Failure("entry bundles", "an entry runs past the bundle");
    out.push(b.slice(o + 2, o + 2 + n));
    o += 2 + n;
  }
  return out;
}

// RFC 6962 Merkle tree hashing.
const leafHash = (e) => sha256(concat(new Uint8Array([0]), e));
const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));
async function treeRoot(leaves, lo, hi) {
  const n = hi - lo;
  if (n === 0) return sha256(new Uint8Array(0));
  if (n === 1) return leaves[lo];
  let k = 1;
  while (k * 2 < n) k *= 2;
  return nodeHash(await treeRoot(leaves, lo, lo + k), await treeRoot(leaves, lo + k, hi));
}

// update takes a checkpoint the server sent: it is shown only once verified.
let busy = Promise.resolve();
function update(bytes) { busy = busy.then(() => verifyAndShow(bytes)).catch(alarm); return busy; }

async function verifyAndShow(bytes) {
  if (state.failure) return; // the alarm stays
  if (state.cp && equal(bytes, state.cp.note)) return;
  const cp = await openCheckpoint(bytes, state.key);
  const prev = state.cp ? state.cp.size : 0;
  if (state.cp) {
    if (cp.origin !== state.cp.origin) throw new Failure("checkpoint origin", "changed from " + state.cp.origin + " to " + cp.origin);
    if (cp.size < prev) throw new Failure("consistency", "the log shrank from " + prev + " to " + cp.size + " entries: history was rewritten");
    if (cp.size === prev) {
      if (!equal(cp.root, state.cp.root)) throw new Failure("consistency", "two signed checkpoints of size " + prev + " with different roots: a split view");
      state.cp = cp;
      // The same tree signed again: with the officers' cosignatures, at the close.
      await checkCosigned();
      render();
      await showCodes();
      return;
    }
  }
  const entries = state.entries.slice();
  const leaves = state.leaves.slice();
  for (let idx = Math.floor(prev / 256); idx * 256 < cp.size; idx++) {
    const n = Math.min(cp.size - idx * 256, 256);
    const name = "tile/entries/" + fmtN(idx) + (n < 256 ? ".p/" + n : "");
    const es = parseBundle(await fetchBytes(name));
    if (es.length !== n) throw new Failure("entry bundles", name + " holds " + es.length + " entries, its name says " + n);
    for (let j = 0; j < n; j++) {
      const i = idx * 256 + j;
      if (i < prev) {
        if (!equal(es[j], entries[i])) throw new Failure("consistency", "entry " + i + " changed since checkpoint " + prev + ": history was rewritten");
        continue;
      }
      entries.push(es[j]);
      leaves.push(await leafHash(es[j]));
    }
  }
  const root = await treeRoot(leaves, 0, cp.size);
  if (!equal(root, cp.root)) {
    if (prev) throw new Failure("consistency", "checkpoint " + cp.size + " does not extend checkpoint " + prev + " seen before");
    throw new Failure("root", "checkpoint " + cp.size + " has root " + hex(cp.root) + ", the entries served give " + hex(root));
  }
  // Every entry shown is one of the leaves the verified root commits to.
  const parsed = state.parsed.slice();
  for (let i = prev; i < cp.size; i++) {
    try { parsed.push(JSON.parse(dec.decode(entries[i]))); } catch (e) { throw new Failure("entries", "entry " + i + " is not JSON"); }
  }
  state.cp = cp; state.entries = entries; state.leaves = leaves; state.parsed = parsed;
  state.verified.push({ size: cp.size, root: hex(cp.root), at: new Date().toISOString().slice(11, 19) });
  await checkCosigned();
  render();
  await showCodes();
  if (!state.steps) readScript(); // once: the script is an immutable artefact
}

// readScript reads the script the opening entry cites, from the log's
// artefacts, checks it is the one whose SHA-256 the entry logged, and
// takes each step's id and text (one line each, as the shipped scripts
// write them), so the page can say what the current step is. A script
// written otherwise leaves the steps without their text.
async function readScript() {
  state.steps = new Map();
  const open = state.parsed[0] || {};
  const art = (open.artefacts || []).find((a) => a.sha256 === open.script_sha256);
  if (!art || !/^[0-9a-f]{64}$/.test(art.sha256) || art.size > (1 << 20)) return;
  try {
    const data = await fetchBytes("artefacts/sha256/" + art.sha256);
    if (data.length > (1 << 20) || hex(await sha256(data)) !== open.script_sha256) return;
    let id = null;
    for (const line of dec.decode(data).split("\n")) {
      const m = line.match(/^\s*-\s+id:\s*"?([0-9]+\.[0-9]+)"?\s*$/);
      if (m) { id = m[1]; state.steps.set(id, ""); continue; }
      const t = line.match(/^\s+text:\s*(.+?)\s*$/);
      if (t && id && state.steps.get(id) === "" && !/^[>|]/.test(t[1])) {
        state.steps.set(id, t[1].replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1").slice(0, 1000));
      }
    }
    render();
  } catch (e) { /* the steps stay without their text */ }
}

function alarm(e) {
  if (state.failure) return;
  const f = e instanceof Failure ? e : new Failure("reading the log", e.message || String(e));
  if (!(e instanceof Failure)) { // the network, or a copy half done: say so and read again
    $("live").textContent = "[WAIT] " + f.detail + "; retrying";
    if (!retry && state.live !== "polling") retry = setTimeout(() => { retry = null; poll(); }, 2000); // one retry at a time
    return;
  }
  state.failure = { check: f.check, detail: f.detail };
  const b = $("banner");
  b.hidden = false;
  b.textContent = "ALARM: " + f.check + " failed: " + f.detail + ". Do not trust what this page shows from here on, and tell the ceremony's auditors." +
    (state.cp ? " Shown: the last checkpoint verified, size " + state.cp.size + "." : "");
  $("status").innerHTML = "";
  $("status").append(el("span", "fail", "[FAIL] " + f.check), " ", state.cp ? "last verified: checkpoint " + state.cp.size : "nothing verified");
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
const time = (t) => (t || "").slice(11, 19);

// describe says in a line what an entry records, in the words of the
// console: DESCRIPTIONS (describe.js) is generated from the log format's
// own table, and these are its rules (ceremony/event's Variant).
function describe(e) {
  for (const v of DESCRIPTIONS[e.kind] || []) {
    if ((v.if || []).every((c) => holds(c, e))) return printable(v.text.replace(/\{([^}]*)\}/g, (_, x) => text(evalExpr(x, e))));
  }
  return e.kind;
}

// printable shows what could act on a terminal or reorder the text around
// it (control and format characters, bidi overrides, separators, lone
// surrogates, private-use and unassigned code points) as escapes, as the
// console's safetext.Printable does: \x1b, \u202e.
function printable(s) {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (!/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/u.test(ch)) { out += ch; continue; }
    out += c < 0x80 ? "\\x" + c.toString(16).padStart(2, "0") : c <= 0xffff ? "\\u" + c.toString(16).padStart(4, "0") : "\\U" + c.toString(16).padStart(8, "0");
  }
  return out;
}
function holds(cond, e) {
  const not = cond.startsWith("!");
  if (not) cond = cond.slice(1);
  const eq = cond.indexOf("==");
  const ok = eq >= 0 ? text(evalExpr(cond.slice(0, eq), e)) === cond.slice(eq + 2) : truthy(evalExpr(cond, e));
  return ok !== not;
}
function evalExpr(expr, e) {
  const parts = expr.split("|");
  let val = e[parts[0]];
  for (const f of parts.slice(1)) {
    const [name, ...args] = f.split(":");
    const list = Array.isArray(val) ? val : [];
    switch (name) {
      case "join": val = list.map(text).join(", "); break;
      case "none": val = list.map(text).join(", ") || "none"; break;
      case "count": val = val && typeof val === "object" && !Array.isArray(val) ? Object.keys(val).length : list.length; break;
      case "names": val = list.filter((x) => x && typeof x === "object").map((x) => x.name); break;
      case "where": val = list.filter((x) => x && typeof x === "object" && text(x[args[0]]) === args.slice(1).join(":")); break;
      case "quote": val = JSON.stringify(text(val)); break;
      default: val = undefined;
    }
  }
  return val;
}
function text(v) {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return v.map(text).join(", ");
  return "";
}
function truthy(v) {
  if (typeof v === "string") return v !== "";
  if (typeof v === "number") return v !== 0;
  if (typeof v === "boolean") return v;
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === "object") return Object.keys(v).length > 0;
  return false;
}

function render() {
  const es = state.parsed;
  const open = es[0] || {};
  $("ceremony").textContent = open.ceremony || "Key ceremony";
  $("zone").textContent = open.zone ? "zone " + open.zone + " · origin " + state.cp.origin : "origin " + state.cp.origin;
  $("rehearsal").hidden = !/\/rehearsal$/.test(state.cp.origin);
  const cp = state.cp;
  $("status").innerHTML = "";
  $("status").append(el("span", "ok", "[ OK ] checkpoint " + cp.size + " verified"), " · signature by the log key, root recomputed from all " + cp.size + " entries" +
    (state.verified.length > 1 ? ", extends checkpoint " + state.verified[state.verified.length - 2].size : ""));
  $("root").textContent = "root " + groupHex(hex(cp.root));
  $("rootwords").textContent = words(cp.root);

  // Steps, cards, exceptions, artefacts, from the entries alone.
  const steps = new Map();
  const step = (id) => { if (!steps.has(id)) steps.set(id, { id, witnessed: [], mark: "" }); return steps.get(id); };
  const cards = $("cards"); cards.innerHTML = "";
  const ex = $("exceptions"); ex.innerHTML = "";
  const arts = $("artefacts"); arts.innerHTML = "";
  const log = $("log"); log.innerHTML = "";
  let last = null, stopped = null;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 8; // the reader was following the newest
  for (const e of es) {
    log.append(el("li", "", time(e.time) + "  " + describe(e)));
    switch (e.kind) {
      case "step.witnessed": step(e.step).witnessed.push(e.witness); break;
      case "step.done": Object.assign(step(e.step), { role: e.role, done: time(e.time) }); last = e; break;
      case "ceremony.stopped": stopped = e; break;
      case "ceremony.resumed": stopped = null; break;
      case "step.skipped": Object.assign(step(e.step), { mark: "skipped", done: time(e.time) }); break;
      case "step.not_applicable": Object.assign(step(e.step), { mark: "not applicable", done: time(e.time) }); break;
      case "step.repeated": step(e.repeat).mark = "repeated"; break;
      case "card.presented": case "card.witnessed":
        cards.append(el("li", "", "[ OK ] " + e.card + " (" + e.holder + ") accepted at " + time(e.time))); break;
      case "card.rejected":
        cards.append(el("li", "fail", "[FAIL] " + e.card + (e.holder ? " (" + e.holder + ")" : "") + " REJECTED: " + e.reason + " at " + time(e.time))); break;
      case "quorum.reached":
        cards.append(el("li", "ok", "quorum reached: " + (e.cards || []).join(", ") + " (" + e.threshold + " needed)")); break;
      case "log.cosigned": case "ceremony.close": {
        const c = state.cosigned.get(e.kind === "log.cosigned" ? e.size : e.seq + 1);
        if (c) cards.append(el("li", "ok cosigned", "[ OK ] " + cosignSummary(c)));
        else if (e.kind === "log.cosigned" || (e.cosigners || []).length) cards.append(el("li", "muted", "officers' cosignatures: being read"));
        break;
      }
    }
    if (["step.exception", "step.skipped", "step.repeated", "ceremony.aborted", "card.rejected", "hsm.login_failed", "quorum.expired", "ceremony.stopped"].includes(e.kind)) {
      ex.append(el("li", "warn", time(e.time) + "  " + describe(e)));
    }
    for (const a of e.artefacts || []) {
      const li = el("li");
      li.append(el("strong", "", a.name), " (entry " + e.seq + ", " + a.size + " bytes)", el("div", "hash", "SHA-256 " + groupHex(a.sha256)), el("div", "words", words(hexBytes(a.sha256))));
      arts.append(li);
    }
  }
  if (open.quorum_threshold) {
    // The threshold from the opening on, and how far the quorum is.
    let held = 0;
    for (const e of es) {
      if (e.kind === "card.presented" || e.kind === "card.witnessed") held++;
      if (e.kind === "quorum.reached" || e.kind === "quorum.expired" || e.kind === "ceremony.resumed" || e.kind === "ceremony.stopped" || e.kind === "hsm.login_failed") held = 0;
    }
    const reached = es.some((e) => e.kind === "quorum.reached");
    cards.prepend(el("li", reached ? "ok" : "", reached ? "quorum: " + open.quorum_threshold + " officers' cards needed, reached" :
      "quorum: " + held + " of " + open.quorum_threshold + " officers' cards needed so far"));
  }
  if (!ex.children.length) ex.append(el("li", "muted", "none so far"));
  if (!arts.children.length) arts.append(el("li", "muted", "none yet"));
  const tb = $("steps"); tb.innerHTML = "";
  const texts = state.steps || new Map();
  for (const id of texts.keys()) step(id); // every step of the script, in its order
  // The current step: the first not done. After an abort the steps it
  // passed over are not in the log: none is named until the next is done.
  let current = null;
  const abortedAt = es.findIndex((e) => e.kind === "ceremony.aborted");
  const lastDone = es.findLastIndex((e) => e.kind === "step.done");
  if (abortedAt < 0 || lastDone > abortedAt) {
    for (const s of [...texts.keys()].map((id) => steps.get(id))) {
      if (!s.done && !current) current = s;
    }
  }
  for (const s of steps.values()) {
    const tr = el("tr", s === current ? "current" : "");
    tr.append(el("td", "", s.id), el("td", "", texts.get(s.id) || ""), el("td", "", s.role || ""), el("td", "", s.witnessed.join(", ")), el("td", "", s.done || "—"),
      el("td", s.mark ? "warn" : (s.done ? "ok" : ""), s.mark ? s.mark.toUpperCase() : (s.done ? "done" : (s === current ? "NOW" : "open"))));
    tb.append(tr);
  }
  const closed = es.length && es[es.length - 1].kind === "ceremony.close";
  $("now").textContent = closed ? "The ceremony is closed; its final checkpoint is verified." :
    stopped ? "Console stopped since " + time(stopped.time) + " UTC, at step " + stopped.at_step + (stopped.hsm_logged_out ? "; the HSM was logged out first." : ".") :
    current && texts.get(current.id) ? "Step " + current.id + ": " + texts.get(current.id) + (last ? " (step " + last.step + " done at " + time(last.time) + " UTC)" : "") :
    last ? "Last: step " + last.step + " done at " + time(last.time) + " UTC by " + last.role + "." : "The ceremony has begun.";
  if (atBottom || !state.logScrolled) { log.scrollTop = log.scrollHeight; state.logScrolled = true; } // the newest entries in view
  const cps = $("checkpoints"); cps.innerHTML = "";
  for (const v of state.verified) {
    const li = el("li");
    li.append(el("span", "ok", "verified"), " size " + v.size + " · seen " + v.at + " · root " + v.root.slice(0, 16) + "…");
    cps.append(li);
  }
}

// showCodes draws the latest verified checkpoint as the console does: its
// QR code, or its numbered codes shown in turn.
async function showCodes() {
  const note = state.cp.note;
  if (state.qr && equal(state.qr.note, note)) return;
  const codes = await QR.codes(note);
  state.qr = { note, codes, since: Date.now() };
  state.qrCodes = codes.map((c) => ({ version: c.version, part: c.part, of: c.of, modules: c.modules.map((r) => r.map((b) => (b ? "1" : "0")).join("")).join("\n") }));
  drawCode();
}
function drawCode() {
  if (!state.qr) return;
  const { codes, since } = state.qr;
  const i = Math.floor((Date.now() - since) / QR.DWELL_MS) % codes.length;
  if (state.qrShown === codes[i] && $("qr").children.length) return;
  state.qrShown = codes[i];
  $("qr").replaceChildren(QR.svg(codes[i], 4));
  $("qrpart").textContent = codes.length > 1 ? "code " + (i + 1) + " of " + codes.length + " · each shown for " + QR.DWELL_MS / 1000 + " s in turn; a reader joins them" :
    "the code holds the whole signed note, as the console shows it";
}
setInterval(drawCode, 250);

// checkPasted checks a checkpoint a viewer saw on the stream (a note, or
// the texts of its codes) against the log this page verified: signed by
// the log key, and its root the root of the first entries of its size.
// The officers whose cosignatures it carries are named. What a viewer
// pastes is theirs: a failure here is said here, not raised as the page's
// alarm.
async function checkPasted() {
  const out = $("pastedresult");
  const say = (cls, text) => { out.className = cls; out.textContent = text; state.pasted = { ok: cls === "ok", text }; };
  try {
    if (!state.cp) return say("warn", "[WAIT] no checkpoint of the log is verified yet");
    const text = $("pasted").value;
    if (text.length > 64 * 1024) return say("fail", "[FAIL] that is longer than any checkpoint note");
    const bytes = await QR.joined(text);
    const cp = await openCheckpoint(bytes, state.key);
    if (cp.size > state.cp.size) {
      return say("warn", "[WAIT] checkpoint " + cp.size + " is signed by the log key, but this page has verified only " + state.cp.size + " entries so far: check again once the log has them");
    }
    const root = await treeRoot(state.leaves, 0, cp.size);
    if (!equal(root, cp.root)) {
      return say("fail", "[FAIL] NOT consistent: checkpoint " + cp.size + " is signed by the log key, but its root " + hex(cp.root).slice(0, 16) + "… is not " +
        hex(root).slice(0, 16) + "…, the root of the published log's first " + cp.size + " entries. The log key signed two histories: tell the ceremony's auditors.");
    }
    let who = "";
    if (state.officers && state.officers.length) {
      const valid = await officerLines(bytes, cp.size);
      if (valid.length) who = "; cosigned by " + valid.join(", ");
    }
    say("ok", "[ OK ] consistent: checkpoint " + cp.size + " is signed by the log key and its root is the root of the published log's first " + cp.size + " entries" + who);
  } catch (e) {
    say("fail", "[FAIL] " + (e instanceof Failure ? e.check + ": " + e.detail : e.message || String(e)));
  }
}

// poll reads the checkpoint and verifies it if it is new.
let retry = null, liveText = "";
async function poll() {
  try {
    await update(await fetchBytes("checkpoint", true));
    if (!state.failure) $("live").textContent = liveText; // the source answers again
  } catch (e) { alarm(e); }
}
function setLive(mode, text) { state.live = mode; liveText = text; $("live").textContent = text; }

async function start() {
  let vkey = fragmentParam("key");
  state.pinned = !!vkey;
  try {
    if (!vkey) vkey = dec.decode(await fetchBytes("log.vkey"));
    state.key = await parseKey(vkey);
  } catch (e) { alarm(e instanceof Failure ? e : new Failure("log key", e.message)); return; }
  const k = $("key");
  k.innerHTML = "";
  k.append(el("strong", "", state.key.name), " · fingerprint ", el("span", "hash", groupHex(state.key.fingerprint)), " · ",
    state.pinned ? el("span", "ok", "pinned by the link you opened") :
      el("span", "warn", "read from the server, not pinned: compare the fingerprint with the one announced at the ceremony"));
  await poll();
  if (window.EventSource && !query.get("log")) {
    const es = new EventSource(new URL("events", base));
    es.addEventListener("checkpoint", (ev) => { setLive("events", "live: new checkpoints are pushed"); update(enc.encode(ev.data + "\n")); });
    es.onerror = () => { es.close(); setLive("polling", "live: polling the checkpoint every 2 s"); setInterval(poll, 2000); };
  } else {
    setLive("polling", "live: polling the checkpoint every 2 s");
    setInterval(poll, 2000);
  }
}

$("checkpasted").addEventListener("click", checkPasted);
start();
