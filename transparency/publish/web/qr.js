"use strict";
// QR codes of a checkpoint note, drawn here from the note the page
// verified, module for module as the console draws them (package camera):
// byte mode, error correction level L, version 10 at most, the mask the
// standard's penalty rules score lowest, a quiet zone of 4 modules. A note
// too long for one code is split into numbered parts, each behind the line
// "keyceremony checkpoint N/M TAG" (TAG: the note's SHA-256, first 4
// bytes in hex), shown in turn for QR.DWELL_MS each.
const QR = (() => {
  const MAX_VERSION = 10, QUIET = 4, MAX_PARTS = 16, DWELL_MS = 2000;
  const PREFIX = "keyceremony checkpoint ";
  // Level L, versions 1 to 10: check codewords per block and the blocks.
  const TOTAL = [0, 26, 44, 70, 100, 134, 172, 196, 242, 292, 346];
  const ECC = [0, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18];
  const NBLOCK = [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4];
  const ALIGN = [null, [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50]];
  const dataBytes = (v) => TOTAL[v] - ECC[v] * NBLOCK[v];

  // GF(256) with the polynomial 0x11d, for Reed–Solomon.
  function mul(x, y) {
    let z = 0;
    for (let i = 7; i >= 0; i--) {
      z = (z << 1) ^ ((z >>> 7) * 0x11d);
      z ^= ((y >>> i) & 1) * x;
    }
    return z & 0xff;
  }
  function divisor(degree) {
    const r = new Array(degree).fill(0);
    r[degree - 1] = 1;
    let root = 1;
    for (let i = 0; i < degree; i++) {
      for (let j = 0; j < r.length; j++) {
        r[j] = mul(r[j], root);
        if (j + 1 < r.length) r[j] ^= r[j + 1];
      }
      root = mul(root, 2);
    }
    return r;
  }
  function remainder(data, div) {
    const r = new Array(div.length).fill(0);
    for (const b of data) {
      const f = b ^ r.shift();
      r.push(0);
      for (let i = 0; i < r.length; i++) r[i] ^= mul(div[i], f);
    }
    return r;
  }

  // The data codewords of payload in byte mode at version v, padded.
  function codewords(payload, v) {
    const bits = [];
    const put = (val, n) => { for (let i = n - 1; i >= 0; i--) bits.push((val >>> i) & 1); };
    put(4, 4);
    put(payload.length, v <= 9 ? 8 : 16);
    for (const b of payload) put(b, 8);
    const cap = dataBytes(v) * 8;
    if (bits.length > cap) return null;
    put(0, Math.min(4, cap - bits.length));
    while (bits.length % 8) bits.push(0);
    for (let pad = 0xec; bits.length < cap; pad ^= 0xec ^ 0x11) put(pad, 8);
    const out = [];
    for (let i = 0; i < bits.length; i += 8) out.push(bits.slice(i, i + 8).reduce((a, b) => (a << 1) | b, 0));
    return out;
  }

  // The codewords with their check codewords, blocks interleaved.
  function interleaved(data, v) {
    const n = NBLOCK[v], ecc = ECC[v], total = TOTAL[v];
    const short = n - (total % n), shortLen = Math.floor(total / n);
    const div = divisor(ecc);
    const blocks = [];
    for (let i = 0, k = 0; i < n; i++) {
      const len = shortLen - ecc + (i < short ? 0 : 1);
      const d = data.slice(k, k + len);
      k += len;
      const c = remainder(d, div);
      if (i < short) d.push(0);
      blocks.push(d.concat(c));
    }
    const out = [];
    for (let i = 0; i < blocks[0].length; i++) {
      for (let j = 0; j < n; j++) if (i !== shortLen - ecc || j >= short) out.push(blocks[j][i]);
    }
    return out;
  }

  const MASKS = [
    (y, x) => (x + y) % 2 === 0,
    (y) => y % 2 === 0,
    (y, x) => x % 3 === 0,
    (y, x) => (x + y) % 3 === 0,
    (y, x) => (Math.floor(y / 2) + Math.floor(x / 3)) % 2 === 0,
    (y, x) => ((x * y) % 2) + ((x * y) % 3) === 0,
    (y, x) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
    (y, x) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
  ];

  // The matrix of version v holding words, masked with mask.
  function matrix(words, v, mask) {
    const n = 17 + 4 * v;
    const m = Array.from({ length: n }, () => new Array(n).fill(false));
    const fn = Array.from({ length: n }, () => new Array(n).fill(false));
    const set = (x, y, dark) => { m[y][x] = dark; fn[y][x] = true; };
    for (let i = 0; i < n; i++) { set(6, i, i % 2 === 0); set(i, 6, i % 2 === 0); }
    const finder = (cx, cy) => {
      for (let dy = -4; dy <= 4; dy++) {
        for (let dx = -4; dx <= 4; dx++) {
          const x = cx + dx, y = cy + dy, d = Math.max(Math.abs(dx), Math.abs(dy));
          if (x >= 0 && x < n && y >= 0 && y < n) set(x, y, d !== 2 && d !== 4);
        }
      }
    };
    finder(3, 3); finder(n - 4, 3); finder(3, n - 4);
    const al = ALIGN[v];
    for (let i = 0; i < al.length; i++) {
      for (let j = 0; j < al.length; j++) {
        if ((i === 0 && j === 0) || (i === 0 && j === al.length - 1) || (i === al.length - 1 && j === 0)) continue;
        for (let dy = -2; dy <= 2; dy++) {
          for (let dx = -2; dx <= 2; dx++) set(al[i] + dx, al[j] + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
        }
      }
    }
    // Format information, for level L (01) and the mask.
    const fdata = (1 << 3) | mask;
    let rem = fdata;
    for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
    const fbits = ((fdata << 10) | rem) ^ 0x5412;
    const bit = (x, i) => ((x >>> i) & 1) !== 0;
    for (let i = 0; i <= 5; i++) set(8, i, bit(fbits, i));
    set(8, 7, bit(fbits, 6)); set(8, 8, bit(fbits, 7)); set(7, 8, bit(fbits, 8));
    for (let i = 9; i < 15; i++) set(14 - i, 8, bit(fbits, i));
    for (let i = 0; i < 8; i++) set(n - 1 - i, 8, bit(fbits, i));
    for (let i = 8; i < 15; i++) set(8, n - 15 + i, bit(fbits, i));
    set(8, n - 8, true);
    if (v >= 7) {
      let r = v;
      for (let i = 0; i < 12; i++) r = (r << 1) ^ ((r >>> 11) * 0x1f25);
      const vbits = (v << 12) | r;
      for (let i = 0; i < 18; i++) {
        const a = n - 11 + (i % 3), b = Math.floor(i / 3);
        set(a, b, bit(vbits, i)); set(b, a, bit(vbits, i));
      }
    }
    let i = 0;
    for (let right = n - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;
      for (let vert = 0; vert < n; vert++) {
        for (let j = 0; j < 2; j++) {
          const x = right - j, up = ((right + 1) & 2) === 0, y = up ? n - 1 - vert : vert;
          if (!fn[y][x] && i < words.length * 8) {
            m[y][x] = ((words[i >>> 3] >>> (7 - (i & 7))) & 1) !== 0;
            i++;
          }
        }
      }
    }
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) if (!fn[y][x] && MASKS[mask](y, x)) m[y][x] = !m[y][x];
    return m;
  }

  // penalty is ISO/IEC 18004's mask score, as package camera computes it.
  function penalty(m) {
    const n = m.length, black = (x, y) => m[y][x];
    let score = 0;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < n; i++) {
        let run = 0, prev = false;
        for (let j = 0; j < n; j++) {
          const b = pass === 1 ? black(i, j) : black(j, i);
          if (j > 0 && b === prev) { run++; continue; }
          if (run >= 5) score += 3 + run - 5;
          run = 1; prev = b;
        }
        if (run >= 5) score += 3 + run - 5;
      }
    }
    for (let y = 0; y + 1 < n; y++) {
      for (let x = 0; x + 1 < n; x++) {
        const b = black(x, y);
        if (black(x + 1, y) === b && black(x, y + 1) === b && black(x + 1, y + 1) === b) score += 3;
      }
    }
    const pat = [true, false, true, true, true, false, true];
    const at = (x, y) => x >= 0 && y >= 0 && x < n && y < n && black(x, y);
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < n; i++) {
        for (let j = -4; j < n; j++) {
          const get = (k) => (pass === 0 ? at(j + k, i) : at(i, j + k));
          let match = true;
          for (let k = 0; k < pat.length; k++) if (get(k + 4) !== pat[k] && get(k) !== pat[k]) { match = false; break; }
          if (!match) continue;
          let before = true, after = true;
          for (let k = 0; k < 4; k++) { before = before && !get(k); after = after && !get(k + 11); }
          let okBefore = before, okAfter = after;
          for (let k = 0; k < pat.length; k++) { okBefore = okBefore && get(k + 4) === pat[k]; okAfter = okAfter && get(k) === pat[k]; }
          if (okBefore || okAfter) score += 40;
        }
      }
    }
    let dark = 0;
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) if (black(x, y)) dark++;
    const pct = Math.floor((dark * 100) / (n * n));
    score += 10 * Math.floor(Math.max(pct - 50, 50 - pct) / 5);
    return score;
  }

  // encode is the smallest code of version ≤ 10 holding payload, with
  // its best mask; null when none holds it.
  function encode(payload) {
    for (let v = 1; v <= MAX_VERSION; v++) {
      const data = codewords(payload, v);
      if (!data) continue;
      const words = interleaved(data, v);
      let best = null, bestScore = 0;
      for (let mask = 0; mask < 8; mask++) {
        const m = matrix(words, v, mask), s = penalty(m);
        if (!best || s < bestScore) { best = m; bestScore = s; }
      }
      return { version: v, size: best.length, modules: best, payload };
    }
    return null;
  }

  // codes draws note (bytes) as one code, or as the fewest numbered parts.
  async function codes(note) {
    const one = encode(note);
    if (one) return [Object.assign(one, { part: 1, of: 1 })];
    const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", note));
    const tag = Array.from(sum.slice(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
    for (let n = 2; n <= MAX_PARTS; n++) {
      const out = [];
      for (let i = 0; i < n; i++) {
        const lo = Math.floor((note.length * i) / n), hi = Math.floor((note.length * (i + 1)) / n);
        const head = new TextEncoder().encode(PREFIX + (i + 1) + "/" + n + " " + tag + "\n");
        const payload = new Uint8Array(head.length + hi - lo);
        payload.set(head); payload.set(note.slice(lo, hi), head.length);
        const c = encode(payload);
        if (!c) break;
        out.push(Object.assign(c, { part: i + 1, of: n }));
      }
      if (out.length === n) return out;
    }
    throw new Error("a note of " + note.length + " bytes needs more than " + MAX_PARTS + " codes");
  }

  // svg draws a code with its quiet zone, px pixels a module: dark
  // modules black on white.
  function svg(code, px) {
    const NS = "http://www.w3.org/2000/svg", side = code.size + 2 * QUIET;
    const s = document.createElementNS(NS, "svg");
    s.setAttribute("width", side * px); s.setAttribute("height", side * px);
    s.setAttribute("viewBox", "0 0 " + side + " " + side); s.setAttribute("shape-rendering", "crispEdges");
    const bg = document.createElementNS(NS, "rect");
    bg.setAttribute("width", side); bg.setAttribute("height", side); bg.setAttribute("fill", "#fff");
    let d = "";
    for (let y = 0; y < code.size; y++) {
      for (let x = 0; x < code.size;) {
        if (!code.modules[y][x]) { x++; continue; }
        let run = 1;
        while (x + run < code.size && code.modules[y][x + run]) run++;
        d += "M" + (x + QUIET) + " " + (y + QUIET) + "h" + run + "v1h-" + run + "z";
        x += run;
      }
    }
    const p = document.createElementNS(NS, "path");
    p.setAttribute("d", d); p.setAttribute("fill", "#000");
    s.append(bg, p);
    return s;
  }

  // parts reads back what a viewer pasted: a whole note, or the texts of
  // a note's codes, in any order and each perhaps followed by a line break
  // the pasting added. It returns the note's bytes, checked against the
  // parts' tag, or throws saying what is wrong.
  async function joined(text) {
    text = text.replace(/\r\n/g, "\n");
    if (!text.includes(PREFIX)) return new TextEncoder().encode(text.trim() + "\n");
    const re = /keyceremony checkpoint (\d+)\/(\d+) ([0-9a-f]{8})\n/g;
    const heads = [...text.matchAll(re)];
    if (!heads.length) throw new Error("a part's first line is not \"keyceremony checkpoint N/M TAG\"");
    const of = Number(heads[0][2]), tag = heads[0][3];
    if (of < 2 || of > MAX_PARTS) throw new Error("parts numbered of " + of);
    const parts = new Array(of).fill(null);
    heads.forEach((h, k) => {
      if (Number(h[2]) !== of || h[3] !== tag) throw new Error("parts of two different notes");
      const n = Number(h[1]);
      if (n < 1 || n > of) throw new Error("a part numbered " + n + "/" + of);
      const end = k + 1 < heads.length ? heads[k + 1].index : text.length;
      parts[n - 1] = text.slice(h.index + h[0].length, end);
    });
    const missing = parts.map((p, i) => (p === null ? i + 1 : 0)).filter((x) => x);
    if (missing.length) throw new Error("parts " + missing.join(", ") + " of " + of + " are missing");
    // Each part but the last may carry a line break the pasting added:
    // the one whole that hashes to the tag is the note.
    for (let trim = 0; trim < (1 << Math.min(of - 1, 8)); trim++) {
      const whole = parts.map((p, i) => (i < of - 1 && (trim >> i) & 1 ? p.replace(/\n$/, "") : p)).join("").replace(/\n?$/, "\n");
      const b = new TextEncoder().encode(whole);
      const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", b));
      if (Array.from(sum.slice(0, 4), (x) => x.toString(16).padStart(2, "0")).join("") === tag) return b;
    }
    throw new Error("the " + of + " parts do not join into the note their tag names");
  }

  return { codes, svg, joined, DWELL_MS, QUIET };
})();
