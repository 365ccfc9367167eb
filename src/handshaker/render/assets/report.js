// handshaker report: the table, the ladders and the packet panel, from the JSON above.
// Every string from the capture goes into the page with textContent, never as HTML;
// the only markup inserted is the ladder SVG, which handshaker escaped when it made it.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("data").textContent);
  const ui = data.ui;
  let lang = data.lang;
  let absolute = false;
  let current = null;      // the stream whose ladder is shown
  let selectedFrame = null;
  let sortKey = "stream", sortDir = 1;

  const $ = (id) => document.getElementById(id);
  const w = (key) => (ui[key] && (ui[key][lang] || ui[key].en)) || key;
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  const COLUMNS = [
    ["stream", "col_stream"], ["proto", "col_proto"], ["client", "col_client"],
    ["server", "col_server"], ["packets", "col_packets"], ["bytes", "col_bytes"],
    ["handshake", "col_handshake"], ["close", "col_close"], ["state", "col_state"],
    ["tls", "col_tls"], ["kx", "col_kx"], ["sni", "col_sni"],
  ];

  function cell(c, key) {
    const v = c[key];
    if (key === "bytes") return v ? v[0] + " / " + v[1] : "";
    if (key === "tls" && v) return v + (c.decrypted ? " (" + w("decrypted") + ")" : "");
    return v === null || v === undefined ? "" : v;
  }

  function fillSelect(id, key) {
    const s = $(id);
    const values = Array.from(new Set(data.conns.map((c) => c[key]).filter((v) => v))).sort();
    s.textContent = "";
    s.appendChild(new Option(w("all"), ""));
    for (const v of values) s.appendChild(new Option(v, v));
  }

  function matches(c) {
    const f = (id, key) => { const v = $(id).value; return !v || c[key] === v; };
    const sni = $("f-sni").value.toLowerCase();
    return f("f-proto", "proto") && f("f-state", "state") && f("f-version", "tls") &&
      f("f-kx", "kx") && (!sni || (c.sni || "").toLowerCase().includes(sni));
  }

  function sortValue(c) {
    const v = c[sortKey];
    if (sortKey === "bytes") return v ? v[0] + v[1] : 0;
    return v === null || v === undefined ? "" : v;
  }

  function renderTable() {
    const head = document.querySelector("#conns thead tr");
    head.textContent = "";
    for (const [key, label] of COLUMNS) {
      const th = el("th", w(label));
      th.dataset.key = key;
      if (key === sortKey) th.className = sortDir > 0 ? "sorted-asc" : "sorted-desc";
      th.addEventListener("click", () => {
        sortDir = key === sortKey ? -sortDir : 1;
        sortKey = key;
        renderTable();
      });
      head.appendChild(th);
    }
    const rows = data.conns.filter(matches).sort((a, b) => {
      const x = sortValue(a), y = sortValue(b);
      return (x < y ? -1 : x > y ? 1 : a.stream - b.stream) * sortDir;
    });
    const body = document.querySelector("#conns tbody");
    const frag = document.createDocumentFragment();
    for (const c of rows) {
      const tr = document.createElement("tr");
      tr.dataset.stream = c.stream;
      tr.dataset.proto = c.proto;
      if (c.proto === "tcp" && c.stream === current) tr.className = "selected";
      for (const [key] of COLUMNS) tr.appendChild(el("td", cell(c, key)));
      tr.addEventListener("click", () => open(c));
      frag.appendChild(tr);
    }
    body.textContent = "";
    body.appendChild(frag);
    $("count").textContent = w("shown") + ": " + rows.length + " / " + data.conns.length;
  }

  function open(c) {
    const lad = c.proto === "tcp" ? data.ladders[String(c.stream)] : null;
    current = c.proto === "tcp" ? c.stream : null;
    selectedFrame = null;
    for (const tr of document.querySelectorAll("#conns tbody tr"))
      tr.classList.toggle("selected", tr.dataset.proto === "tcp" && Number(tr.dataset.stream) === current);
    const box = $("ladder");
    box.textContent = "";
    $("panel").textContent = "";
    if (!lad) {
      $("ladder-title").textContent = c.proto.toUpperCase() + " " + c.stream + ": " + c.client + " → " + c.server;
      $("ladder-hint").textContent = w("no_ladder");
      return;
    }
    $("ladder-title").textContent = lad.title[lang];
    $("ladder-hint").textContent = w("pick_arrow");
    box.innerHTML = lad.svg; // handshaker's own SVG: every packet string in it is escaped
    for (const g of box.querySelectorAll("g.step")) {
      g.addEventListener("click", () => showStep(lad, Number(g.dataset.index)));
    }
    applySeq();
  }

  function applySeq() {
    for (const label of document.querySelectorAll("#ladder text.label"))
      label.textContent = absolute ? label.dataset.abs : label.dataset.rel;
    $("seq-toggle").textContent = w(absolute ? "absolute" : "relative");
  }

  function showStep(lad, index) {
    const s = lad.steps[index];
    selectedFrame = s.frame;
    for (const g of document.querySelectorAll("#ladder g.step"))
      g.classList.toggle("selected", Number(g.dataset.index) === index);
    const p = $("panel");
    p.textContent = "";
    p.dataset.frame = s.frame;
    p.appendChild(el("h3", w("frame") + " " + s.frame + " · " + s.label[lang]));
    const seq = absolute ? s.seq_raw : s.seq, ack = absolute ? s.ack_raw : s.ack;
    const line = "[" + s.flags.join(",").toUpperCase() + "] Seq=" + seq +
      (s.flags.includes("ack") ? " Ack=" + ack : "") + " Len=" + s.len;
    p.appendChild(el("div", line, "seqack"));
    if (s.note[lang]) p.appendChild(el("p", s.note[lang], "note"));
    if (s.states[0] || s.states[1])
      p.appendChild(el("p", w("states") + ": " + (s.states[0] || "?") + " · " + (s.states[1] || "?")));
    if (s.tls.length) {
      p.appendChild(el("h3", w("tls_messages")));
      const ul = el("ul");
      s.tls.forEach((name, i) => {
        const li = el("li", name);
        const note = s.tls_notes[lang][i];
        if (note) li.appendChild(el("div", note));
        const fields = lad.tls && lad.tls[name];
        if (fields && fields.length) {
          const ft = el("table", null, "fields");
          for (const [k, v] of fields) {
            const tr = el("tr");
            const [word, ...rest] = k.split(" ");  // "f_cert 0": the word, then a number
            tr.appendChild(el("td", [ui[word] ? w(word) : word, ...rest].join(" ")));
            tr.appendChild(el("td", typeof v === "object" ? v[lang] : v));
            ft.appendChild(tr);
          }
          li.appendChild(ft);
        }
        ul.appendChild(li);
      });
      p.appendChild(ul);
    }
    if (s.analysis.length) p.appendChild(el("p", "⚠ " + s.analysis.join(", ")));
    const fr = data.frames[String(s.frame)];
    if (!fr) { p.appendChild(el("p", w("no_detail"))); return; }
    p.appendChild(el("h3", w("layers")));
    const t = el("table");
    const hr = el("tr");
    for (const h of ["", w("tcpip"), w("osi")]) hr.appendChild(el("th", h));
    t.appendChild(hr);
    for (const la of fr.layers) {
      const tr = el("tr");
      tr.appendChild(el("td", la.name[lang] + " (" + la.length + " B)"));
      tr.appendChild(el("td", la.tcpip[lang]));
      tr.appendChild(el("td", la.osi[lang]));
      t.appendChild(tr);
    }
    p.appendChild(t);
    for (const la of fr.layers) {
      p.appendChild(el("h3", la.name[lang] + " · " + w("fields")));
      const ft = el("table", null, "fields");
      for (const [name, value] of la.fields) {
        const tr = el("tr");
        tr.appendChild(el("td", name));
        tr.appendChild(el("td", value));
        ft.appendChild(tr);
      }
      p.appendChild(ft);
    }
    p.appendChild(el("h3", w("hex") + " (" + fr.caplen + ")"));
    const lines = [];
    for (let i = 0; i < fr.hex.length; i += 32) {
      const chunk = fr.hex.slice(i, i + 32);
      const bytes = chunk.match(/../g) || [];
      const ascii = bytes.map((b) => { const n = parseInt(b, 16); return n >= 32 && n < 127 ? String.fromCharCode(n) : "."; }).join("");
      lines.push((i / 2).toString(16).padStart(6, "0") + "  " + bytes.join(" ").padEnd(48) + " " + ascii);
    }
    p.appendChild(el("div", lines.join("\n"), "hex"));
  }

  function renderStatic() {
    document.body.className = "lang-" + lang;
    document.documentElement.lang = lang;
    $("title").textContent = w("title") + ": " + data.meta.file;
    const m = data.meta;
    $("meta").textContent = m.frames + " " + w("frames") + " · " + w("duration") + " " +
      m.duration.toFixed(3) + " s · TCP " + m.tcp + " · UDP " + m.udp;
    if (m.limits.length) $("meta").appendChild(el("div", w("limit").replace("{what}", m.limits.join("; ")), "limits"));
    $("conn-heading").textContent = w("connections");
    for (const span of document.querySelectorAll("[data-ui]")) span.textContent = w(span.dataset.ui);
    $("lang-toggle").textContent = w("language");
    for (const [id, key] of [["f-proto", "proto"], ["f-state", "state"], ["f-version", "tls"], ["f-kx", "kx"]]) {
      const keep = $(id).value;
      fillSelect(id, key);
      $(id).value = keep;
    }
    if (current === null) { $("ladder-title").textContent = ""; $("ladder-hint").textContent = w("pick"); }
  }

  $("seq-toggle").addEventListener("click", () => {
    absolute = !absolute;
    applySeq();
    if (current !== null && selectedFrame !== null) {
      const lad = data.ladders[String(current)];
      const i = lad.steps.findIndex((s) => s.frame === selectedFrame);
      if (i >= 0) showStep(lad, i);
    }
  });
  $("lang-toggle").addEventListener("click", () => {
    lang = lang === "en" ? "zh" : "en";
    renderStatic();
    renderTable();
    applySeq();
    if (current !== null) {
      const lad = data.ladders[String(current)];
      $("ladder-title").textContent = lad.title[lang];
      $("ladder-hint").textContent = w("pick_arrow");
      if (selectedFrame !== null) {
        const i = lad.steps.findIndex((s) => s.frame === selectedFrame);
        if (i >= 0) showStep(lad, i);
      }
    }
  });
  for (const id of ["f-proto", "f-state", "f-version", "f-kx", "f-sni"])
    $(id).addEventListener("input", renderTable);

  renderStatic();
  renderTable();
  applySeq();
})();
