/* kateval sample browser: the index (a few numbers per sample) is parsed at load; texts are inflated per chunk
   when needed. Model output is untrusted: it is only ever inserted with textContent. */
(function () {
  "use strict";
  const root = document.getElementById("kt-browser");
  const I = JSON.parse(document.getElementById("kt-index").textContent);
  const S = I.samples, P = I.problems, N = S.p.length;
  const CORRECT = 1, TRUNCATED = 2, WELL_FORMED = 4, PAGE = 50, CACHED_CHUNKS = 48;
  const state = {task: "", problem: "", mode: "", status: "", result: "", truncated: "", well: "", sort: "file",
                 search: "", page: 0, selected: -1};
  let view = new Int32Array(0), textMatches = null, searchRun = 0;
  const chunkCache = new Map();

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value; else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children || []) if (child != null) node.append(child);
    return node;
  }
  const shortAnswer = (x) => (x == null ? "-" : x.length > 24 ? x.slice(0, 23).replace(/\s+/g, " ") + "…" : x.replace(/\s+/g, " "));
  const fmt = (n) => (n < 0 ? "-" : n.toLocaleString("en-US"));
  const right = (i) => (S.f[i] & CORRECT) !== 0;

  // ------------------------------------------------------------------ controls
  function select(name, label, options) {
    const box = el("select", {"data-filter": name}, options.map(([value, text]) => el("option", {value, text})));
    box.addEventListener("change", () => { state[name] = box.value; refresh(); });
    return el("label", {}, [label, box]);
  }
  const any = [["", "any"]];
  const taskOptions = I.tasks.map((t, i) => [String(i), t]);
  const controls = el("div", {class: "kt-controls"}, [
    select("task", "task", any.concat(taskOptions)),
    (() => {
      const input = el("input", {"data-filter": "problem", list: "kt-problem-ids", size: "16", placeholder: "id"});
      input.addEventListener("input", () => { state.problem = input.value.trim(); refresh(); });
      const ids = el("datalist", {id: "kt-problem-ids"}, [...new Set(P.id)].slice(0, 5000).map((v) => el("option", {value: v})));
      return el("label", {}, ["problem", input, ids]);
    })(),
    select("mode", "mode", any.concat(I.modes.map((m, i) => [String(i), m]))),
    select("status", "status", any.concat(I.statuses.map((s, i) => [String(i), s]))),
    select("result", "result", any.concat([["right", "right"], ["wrong", "wrong"]])),
    select("truncated", "truncated", any.concat([["yes", "yes"], ["no", "no"]])),
    select("well", "well formed", any.concat([["yes", "yes"], ["no", "no"]])),
    (() => {
      const input = el("input", {"data-filter": "search", size: "18", placeholder: "text in completions"});
      let timer = 0;
      input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => search(input.value), 250); });
      return el("label", {}, ["search", input]);
    })(),
    select("sort", "sort", [["file", "run order"], ["tokens-desc", "tokens, most first"],
                            ["tokens-asc", "tokens, fewest first"], ["think-desc", "think tokens, most first"]]),
  ]);
  const count = el("span", {class: "kt-count"});
  const busy = el("span", {class: "kt-busy"});
  const prev = el("button", {type: "button", text: "‹ prev"});
  const next = el("button", {type: "button", text: "next ›"});
  prev.addEventListener("click", () => { state.page -= 1; renderList(); });
  next.addEventListener("click", () => { state.page += 1; renderList(); });
  const tbody = el("tbody");
  const list = el("div", {class: "kt-list"}, [
    el("div", {class: "kt-pager"}, [prev, next, count, busy]),
    el("table", {}, [el("thead", {}, [el("tr", {}, ["task", "problem", "#", "mode", "status", "tokens",
      "answer"].map((h) => el("th", {text: h})))]), tbody])]);
  const detail = el("div", {class: "kt-detail"}, [el("p", {class: "kt-muted", text: "Click a sample to read it."})]);
  root.append(controls, el("div", {class: "kt-main"}, [list, detail]));

  // ------------------------------------------------------------------ filtering and sorting
  function problemMatcher() {
    const wanted = state.problem;
    if (!wanted) return null;
    const exact = P.id.includes(wanted);
    const lower = wanted.toLowerCase();
    const ok = new Uint8Array(P.id.length);
    P.id.forEach((id, i) => { ok[i] = exact ? id === wanted : id.toLowerCase().includes(lower); });
    return ok;
  }
  function refresh() {
    const task = state.task === "" ? -1 : +state.task, mode = state.mode === "" ? -1 : +state.mode;
    const status = state.status === "" ? -1 : +state.status, problems = problemMatcher();
    const picked = new Int32Array(N);
    let size = 0;
    for (let i = 0; i < N; i++) {
      const p = S.p[i], f = S.f[i];
      if (task >= 0 && P.task[p] !== task) continue;
      if (problems && !problems[p]) continue;
      if (mode >= 0 && S.m[i] !== mode) continue;
      if (status >= 0 && S.s[i] !== status) continue;
      if (state.result && ((f & CORRECT) !== 0) !== (state.result === "right")) continue;
      if (state.truncated && ((f & TRUNCATED) !== 0) !== (state.truncated === "yes")) continue;
      if (state.well && ((f & WELL_FORMED) !== 0) !== (state.well === "yes")) continue;
      if (textMatches && !textMatches[i]) continue;
      picked[size++] = i;
    }
    view = picked.slice(0, size);
    const key = {"tokens-desc": S.n, "tokens-asc": S.n, "think-desc": S.k}[state.sort];
    if (key) {
      const sign = state.sort.endsWith("asc") ? 1 : -1;
      view.sort((a, b) => (key[a] < 0) - (key[b] < 0) || sign * (key[a] - key[b]) || a - b);  // unknown last
    }
    state.page = 0;
    renderList();
  }
  function renderList() {
    const pages = Math.max(1, Math.ceil(view.length / PAGE));
    state.page = Math.min(Math.max(0, state.page), pages - 1);
    const start = state.page * PAGE, rows = [];
    for (let r = start; r < Math.min(view.length, start + PAGE); r++) {
      const i = view[r];
      const row = el("tr", {"data-index": String(i), class: i === state.selected ? "kt-selected" : ""}, [
        el("td", {text: I.tasks[P.task[S.p[i]]]}), el("td", {text: P.id[S.p[i]]}), el("td", {text: String(S.i[i])}),
        el("td", {text: I.modes[S.m[i]] ?? "-"}),
        el("td", {class: "kt-status " + (right(i) ? "kt-right" : "kt-wrong"), text: I.statuses[S.s[i]] ?? "-"}),
        el("td", {text: fmt(S.n[i]) + (S.f[i] & TRUNCATED ? " ✂" : ""), title: `judge ${fmt(S.j[i])}, think ${
          fmt(S.k[i])}, answer ${fmt(S.a[i])}` + (S.f[i] & TRUNCATED ? "; cut at the token limit" : "")}),
        el("td", {class: "kt-ans", text: shortAnswer(S.x[i])})]);
      row.addEventListener("click", () => openSample(i, true));
      rows.push(row);
    }
    tbody.replaceChildren(...rows);
    count.textContent = view.length ? `${(start + 1).toLocaleString("en-US")}–${Math.min(view.length, start + PAGE)
      .toLocaleString("en-US")} of ${view.length.toLocaleString("en-US")} samples` : `no sample matches (of ${N.toLocaleString("en-US")})`;
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
  }

  // ------------------------------------------------------------------ texts
  async function inflate(id) {
    const packed = document.getElementById(id).textContent;
    const response = await fetch("data:application/octet-stream;base64," + packed);
    return JSON.parse(await new Response(response.body.pipeThrough(new DecompressionStream("gzip"))).text());
  }
  async function chunk(number) {
    if (!chunkCache.has(number)) {
      if (chunkCache.size >= CACHED_CHUNKS) chunkCache.delete(chunkCache.keys().next().value);
      chunkCache.set(number, inflate("kt-c" + number));
    }
    return chunkCache.get(number);
  }
  let promptsPromise = null;
  const prompts = () => (promptsPromise = promptsPromise || inflate("kt-prompts"));

  async function search(query) {
    const run = ++searchRun;
    state.search = query;
    if (!query) { textMatches = null; busy.textContent = ""; refresh(); return; }
    const needle = query.toLowerCase(), found = new Uint8Array(N), chunks = Math.ceil(N / I.chunk);
    for (let c = 0; c < chunks; c++) {
      if (run !== searchRun) return;   // a newer search started
      busy.textContent = `searching ${c + 1}/${chunks}…`;
      const items = await chunk(c);
      items.forEach((item, k) => {
        if ((item.prefix + item.completion).toLowerCase().includes(needle)) found[c * I.chunk + k] = 1;
      });
    }
    busy.textContent = "";
    textMatches = found;
    refresh();
  }

  function completionView(item) {
    const text = item.completion, box = el("pre", {class: "kt-text"});
    if (item.prefix) box.append(el("span", {class: "kt-prefix", "data-kind": "in the prompt", text: item.prefix}));
    let at = 0;
    const segs = item.segments;
    for (let s = 0; s < segs.length; s += 3) {
      const [kind, start, end] = [I.segments[segs[s]], segs[s + 1], segs[s + 2]];
      if (start > at) box.append(text.slice(at, start));
      const part = text.slice(start, end);
      // whitespace between tags is "other" too; marking it would only add noise
      box.append(kind === "other" && !part.trim() ? part : el("span", {class: "kt-seg kt-" + kind, "data-kind": kind, text: part}));
      at = Math.max(at, end);
    }
    if (at < text.length) box.append(text.slice(at));
    return box;
  }
  function promptView(prompt) {
    if (!prompt) return el("p", {class: "kt-muted", text: "This run did not store its prompts (made by an older kateval)."});
    const note = prompt.origin === "task" ? el("p", {class: "kt-muted", text: "The task's own prompt for this problem: " +
      "these completions were made elsewhere (kateval score), with a prompt that may have differed."}) : null;
    const body = prompt.text != null ? [el("pre", {class: "kt-text", text: prompt.text})] : prompt.messages.map((m) =>
      el("div", {}, [el("div", {class: "kt-role", text: m.role}),
        el("pre", {class: "kt-text", text: typeof m.content === "string" ? m.content : JSON.stringify(m.content, null, 1)})]));
    return el("div", {class: "kt-prompt"}, [note, ...body].filter((node) => node != null));
  }
  const factRow = (name, value) => el("tr", {}, [el("th", {text: name}), el("td", {text: value == null ? "-" : String(value)})]);

  async function openSample(i, updateHash) {
    state.selected = i;
    for (const row of tbody.children) row.classList.toggle("kt-selected", +row.dataset.index === i);
    const problem = S.p[i], task = I.tasks[P.task[problem]];
    detail.replaceChildren(el("p", {class: "kt-muted", text: "loading…"}));
    const [items, allPrompts] = await Promise.all([chunk(Math.floor(i / I.chunk)), prompts()]);
    if (state.selected !== i) return;
    const item = items[i % I.chunk];
    const href = "#samples?" + new URLSearchParams({task, problem: P.id[problem], sample: String(S.i[i])});
    const details = Object.entries(item.grade_details || {});
    detail.replaceChildren(...[
      el("h3", {"data-sample": `${task}/${P.id[problem]}/${S.i[i]}`, text: `${task} · ${P.id[problem]} · sample ${S.i[i]}`}),
      el("p", {}, [el("span", {class: "kt-status " + (right(i) ? "kt-right" : "kt-wrong"),
        text: `${I.statuses[S.s[i]]} (${right(i) ? "right" : "wrong"})`}), " · ",
        el("a", {href, text: "link to this sample"})]),
      el("table", {}, [
        factRow("mode", I.modes[S.m[i]]), factRow("well formed", S.f[i] & WELL_FORMED ? "yes" : "no"),
        factRow("finish reason", item.finish_reason), factRow("truncated", S.f[i] & TRUNCATED ? "yes" : "no"),
        factRow("stop reason", item.stop_reason), factRow("difficulty", P.difficulty[problem]),
        factRow("tokens: prompt", item.prompt_tokens), factRow("cached prompt", item.cached_prompt_tokens),
        factRow("completion", fmt(S.n[i])), factRow("judge / think / answer / other",
          `${fmt(S.j[i])} / ${fmt(S.k[i])} / ${fmt(S.a[i])} / ${item.other_tokens == null ? "-" : fmt(item.other_tokens)}`)]),
      el("h4", {text: "Extracted answer"}), el("pre", {class: "kt-pre kt-answer-text", text: item.answer ?? S.x[i] ?? "(none)"}),
      details.length ? el("h4", {text: "Grade details"}) : null,
      details.length ? el("table", {class: "kt-grade"}, details.map(([k, v]) => el("tr", {}, [el("th", {text: k}),
        el("td", {}, [el("pre", {class: "kt-pre", text: typeof v === "string" ? v : JSON.stringify(v, null, 1)})])]))) : null,
      el("details", {}, [el("summary", {text: "Prompt"}), promptView(allPrompts[problem])]),
      el("h4", {text: "Completion"}), completionView(item)].filter((node) => node != null));
    if (updateHash) history.replaceState(null, "", href);
  }

  // ------------------------------------------------------------------ links: #samples?task=…&problem=…&sample=…
  function follow() {
    if (!location.hash.startsWith("#samples?")) return;
    const query = new URLSearchParams(location.hash.slice("#samples?".length));
    const task = I.tasks.indexOf(query.get("task") ?? "");
    Object.assign(state, {task: task >= 0 ? String(task) : "", problem: query.get("problem") ?? "", mode: "",
                          status: "", result: "", truncated: "", well: ""});
    for (const box of controls.querySelectorAll("[data-filter]")) {
      const name = box.dataset.filter;
      if (name in state && name !== "search") box.value = state[name];
    }
    refresh();
    const wanted = query.get("sample");
    const target = Array.from(view).find((i) => wanted == null || String(S.i[i]) === wanted);
    if (target !== undefined) openSample(target, false);
    document.getElementById("samples").scrollIntoView();
  }
  window.addEventListener("hashchange", follow);
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea") || !["j", "k"].includes(event.key) || !view.length) return;
    const at = view.indexOf(state.selected), to = Math.min(view.length - 1, Math.max(0, at + (event.key === "j" ? 1 : -1)));
    if (Math.floor(to / PAGE) !== state.page) { state.page = Math.floor(to / PAGE); renderList(); }
    openSample(view[to], true);
  });
  refresh();
  follow();
  root.dataset.ready = String(performance.now());   // ms from navigation start to the first rows: benchmarks read it
})();
