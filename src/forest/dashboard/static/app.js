// Forest dashboard. One module, no build step, no dependencies.
// Data is only ever written with textContent / attributes, never innerHTML.

const API = "/api/v1";
const TOKEN_KEY = "forest.token";
const LAST_EVENT_KEY = "forest.lastEventId";
const TABS = ["notices", "crawls", "analytics", "alerts", "sources"];
const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const STATE_RANK = { queued: 0, running: 1, succeeded: 2, failed: 2, cancelled: 2 };
const BID_FILTER_KEYS = ["q", "department", "views_gte", "views_lte", "posted_from", "posted_to", "open", "sort"];
const CLOSING_SOON = "closes_at";
const DEFAULT_SORT = "-post_date";
const PAGE_SIZE = 30;
const TOAST_MS = 8000;

const $ = (id) => document.getElementById(id);
const numberFmt = new Intl.NumberFormat("ko-KR");
const fmtNum = (n) => (n === null || n === undefined || n === "" ? "–" : numberFmt.format(Number(n)));
const pad = (n) => String(n).padStart(2, "0");
/** Local "YYYY-MM-DD HH:MM:SS" (or only the time with `timeOnly`). */
function fmtTime(iso, { timeOnly = false } = {}) {
  const d = iso ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return "";
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return timeOnly ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

/** Create an element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** Only http(s) links from crawled data become clickable; anything else (javascript:, data:) is dropped. */
function safeUrl(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

const errorText = (error) => (error && typeof error === "object" ? error.message ?? error.detail ?? JSON.stringify(error) : error);

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Plain-http LAN addresses are not a secure context and lack randomUUID.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ---------------------------------------------------------------- API client

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

const auth = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** Call the API; JSON in and out. A 401 on an authenticated call sends the user back to the login form. */
async function api(path, { method = "GET", body, form, headers = {}, signal, authed = true } = {}) {
  const init = { method, headers: { Accept: "application/json, application/problem+json", ...headers }, signal };
  if (authed && auth.token) init.headers.Authorization = `Bearer ${auth.token}`;
  if (form) {
    init.body = new URLSearchParams(form);
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, { title: "Network error", detail: "The server could not be reached. Check your connection and try again." });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const problem = data && typeof data === "object" ? data : { title: response.statusText, detail: text.slice(0, 300) };
    if (!problem.detail && !problem.title) problem.title = `HTTP ${response.status}`;
    if (response.status === 401 && authed) logout("Your session has ended. Please log in again.");
    throw new ApiError(response.status, problem);
  }
  return data;
}

/** Show a problem+json (detail, code and field errors) inside a `.problem` box; null hides it. */
function showProblem(box, error) {
  box.replaceChildren();
  if (!error) { box.hidden = true; return; }
  if (error.name === "AbortError") return;
  const problem = error.problem || { detail: String(error.message || error) };
  const head = el("div", {}, el("strong", { text: problem.detail || problem.title || "Something went wrong." }));
  if (problem.code) head.append(el("span", { class: "code", text: problem.code }));
  box.append(head);
  const fieldErrors = Array.isArray(problem.errors) ? problem.errors : [];
  if (fieldErrors.length) {
    const list = el("ul");
    for (const item of fieldErrors) list.append(el("li", { text: describeFieldError(item) }));
    box.append(list);
  }
  box.hidden = false;
}

function describeFieldError(item) {
  if (typeof item === "string") return item;
  let field = item.field ?? item.name ?? item.pointer ?? item.parameter;
  if (!field && Array.isArray(item.loc)) field = item.loc.filter((p) => p !== "body" && p !== "query").join(".");
  const message = item.msg ?? item.message ?? item.detail ?? JSON.stringify(item);
  return field ? `${field}: ${message}` : message;
}

/** Fetch every page of a list endpoint (small collections such as sources). */
async function fetchAll(path, maxPages = 10) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api(cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    items.push(...(page.items || []));
    if (!page.has_more || !page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return items;
}

// ---------------------------------------------------------------- routing

const state = { tab: "notices", loaded: new Set(), bidQuery: "" };

function currentTab() {
  const tab = new URLSearchParams(location.search).get("tab");
  return TABS.includes(tab) ? tab : "notices";
}

/** Navigate to a tab; `params` only matter for the notices tab (its filters). */
function navigate(tab, params = null, { replace = false } = {}) {
  const query = new URLSearchParams(params || (tab === "notices" ? state.bidQuery : ""));
  query.delete("tab");
  const search = `?tab=${tab}${query.toString() ? `&${query}` : ""}`;
  if (search !== location.search) history[replace ? "replaceState" : "pushState"](null, "", search);
  render();
}

function render() {
  if (!auth.token) { showAuth(); return; }
  const previous = state.tab;
  state.tab = currentTab();
  for (const link of document.querySelectorAll("#tabs a")) {
    if (link.dataset.tab === state.tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== state.tab;
  const openers = { notices: notices.sync, crawls: crawls.open, analytics: analytics.open, alerts: alerts.open,
    sources: () => {} };
  // A tab shown again reloads: crawls may have stored notices since it was last on screen.
  openers[state.tab]({ shownAgain: previous !== state.tab });
}

// ---------------------------------------------------------------- auth view

function showAuth(message) {
  document.body.dataset.auth = "out";
  $("auth-view").hidden = false;
  $("tabs").hidden = true;
  $("session").hidden = true;
  for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = true;
  if (message) showProblem($("auth-error"), { problem: { detail: message } });
  $("auth-email").focus();
}

async function showApp() {
  // Check the stored token once before loading anything, so an expired one costs a single request.
  try {
    const me = await api(`${API}/users/me`);
    $("user-email").textContent = me.email;
    $("tab-link-sources").hidden = !me.is_admin;
  } catch (err) {
    if (err.status === 401) return; // api() has already returned to the login form
  }
  document.body.dataset.auth = "in";
  $("auth-view").hidden = true;
  $("tabs").hidden = false;
  $("session").hidden = false;
  render();
  live.start();
}

function logout(message) {
  auth.token = null;
  sessionStorage.removeItem(LAST_EVENT_KEY);
  live.stop();
  state.loaded.clear();
  notices.clear();
  crawls.jobs.clear();
  $("job-list").replaceChildren();
  $("alert-list").replaceChildren();
  $("user-email").textContent = "";
  showAuth(message);
}

async function onAuthSubmit(event) {
  event.preventDefault();
  const box = $("auth-error");
  const email = $("auth-email").value.trim();
  const password = $("auth-password").value;
  const registering = event.submitter?.value === "register";
  const buttons = [$("login-btn"), $("register-btn")];
  buttons.forEach((b) => { b.disabled = true; });
  showProblem(box, null);
  try {
    if (registering) await api(`${API}/auth/register`, { method: "POST", body: { email, password }, authed: false });
    const token = await api(`${API}/auth/token`, { method: "POST", form: { username: email, password }, authed: false });
    auth.token = token.access_token;
    $("auth-password").value = "";
    await showApp();
  } catch (err) {
    showProblem(box, err);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

// ---------------------------------------------------------------- notices

const notices = {
  ids: new Set(),
  cursor: null,
  hasMore: true,
  loading: false,
  generation: 0,
  controller: null,
  observer: null,
  failed: false,

  /** Filter values from the URL, as the API expects them (department is a list). */
  filtersFromUrl() {
    const url = new URLSearchParams(location.search);
    const filters = {};
    for (const key of BID_FILTER_KEYS) {
      const values = url.getAll(key).flatMap((v) => (key === "department" ? v.split(",") : [v]))
        .map((v) => v.trim()).filter(Boolean);
      if (values.length) filters[key] = key === "department" ? values : values[0];
    }
    return filters;
  },

  filtersFromForm(form) {
    const data = new FormData(form);
    const filters = {};
    for (const key of BID_FILTER_KEYS) {
      const value = String(data.get(key) ?? "").trim();
      if (!value) continue; // an unticked "Open only" box sends nothing
      if (key === "department") {
        const list = value.split(",").map((v) => v.trim()).filter(Boolean);
        if (list.length) filters.department = list;
      } else if (!(key === "sort" && value === DEFAULT_SORT)) {
        filters[key] = value;
      }
    }
    return filters;
  },

  toParams(filters) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) {
      for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
    }
    return params;
  },

  fillForm(form, filters) {
    for (const key of BID_FILTER_KEYS) {
      const input = form.elements.namedItem(key);
      const value = filters[key];
      if (input.type === "checkbox") input.checked = value === input.value;
      else input.value = Array.isArray(value) ? value.join(", ") : value ?? (key === "sort" ? DEFAULT_SORT : "");
    }
  },

  /** Called whenever the notices tab is shown or the URL changed: reload when the filters differ or the tab
   * comes back on screen (`shownAgain`), so notices a crawl stored meanwhile appear without a page reload. */
  sync({ shownAgain = false } = {}) {
    const filters = notices.filtersFromUrl();
    const query = notices.toParams(filters).toString();
    notices.fillForm($("bid-filters"), filters);
    if (state.loaded.has("notices") && query === state.bidQuery && !shownAgain) return;
    state.loaded.add("notices");
    state.bidQuery = query;
    notices.reset();
    notices.loadMore();
  },

  apply(event) {
    event.preventDefault();
    navigate("notices", notices.toParams(notices.filtersFromForm($("bid-filters"))));
  },

  clear() {
    state.loaded.delete("notices");
    state.bidQuery = "";
    notices.reset();
  },

  reset() {
    notices.controller?.abort();
    notices.generation += 1;
    notices.ids.clear();
    notices.cursor = null;
    notices.hasMore = true;
    notices.loading = false;
    $("bid-rows").replaceChildren();
    showProblem($("bid-error"), null);
    notices.updateFooter();
  },

  async loadMore() {
    if (notices.loading || !notices.hasMore || !auth.token) return;
    const generation = notices.generation;
    notices.loading = true;
    notices.controller = new AbortController();
    notices.updateFooter();
    const params = new URLSearchParams(state.bidQuery);
    params.set("limit", String(PAGE_SIZE));
    if (notices.cursor) params.set("cursor", notices.cursor);
    try {
      const page = await api(`${API}/bids?${params}`, { signal: notices.controller.signal });
      if (generation !== notices.generation) return;
      const rows = $("bid-rows");
      for (const bid of page.items || []) {
        if (notices.ids.has(bid.id)) continue;
        notices.ids.add(bid.id);
        rows.append(notices.row(bid));
      }
      notices.cursor = page.next_cursor || null;
      notices.hasMore = Boolean(page.has_more && page.next_cursor);
      showProblem($("bid-error"), null);
    } catch (err) {
      if (generation !== notices.generation) return;
      showProblem($("bid-error"), err);
      notices.failed = true;
    } finally {
      if (generation === notices.generation) {
        notices.loading = false;
        notices.updateFooter();
        if (!notices.failed) notices.rearm();
        notices.failed = false;
      }
    }
  },

  /** Re-observe the sentinel so a short page that leaves it on screen triggers the next load. */
  rearm() {
    const sentinel = $("bid-sentinel");
    notices.observer?.unobserve(sentinel);
    if (notices.hasMore && state.tab === "notices") notices.observer?.observe(sentinel);
  },

  row(bid) {
    const attachments = Array.isArray(bid.attachments) ? bid.attachments.length : 0;
    // The title opens the notice view; the board's own page is linked from there.
    const link = el("a", { href: `#bid-${bid.id}`, class: "bid-open", text: bid.title });
    link.addEventListener("click", (event) => {
      event.preventDefault();
      noticeView.open(bid.id);
    });
    return el("tr", { "data-bid-id": bid.id, "data-closes-at": bid.closes_at, "data-amount": bid.amount },
      el("td", { class: "title", "data-label": "제목" }, link),
      el("td", { "data-label": "담당부서", text: bid.department || "–" }),
      el("td", { class: "date", "data-label": "작성일" }, el("time", { datetime: bid.post_date, text: bid.post_date })),
      el("td", { class: "date deadline", "data-label": "마감" }, deadlineCell(bid.closes_at)),
      el("td", { class: "num amount", "data-label": "금액", text: fmtAmount(bid.amount, bid.currency) }),
      el("td", { class: "num", "data-label": "조회수", text: fmtNum(bid.views) }),
      el("td", { class: "num", "data-label": "첨부", text: String(attachments) }));
  },

  updateFooter() {
    const count = notices.ids.size;
    $("bid-loading").hidden = !notices.loading;
    $("bid-load-more").hidden = notices.loading || !notices.hasMore;
    $("bid-end").hidden = notices.loading || notices.hasMore;
    $("bid-end").textContent = count ? "End of results" : "No notices match these filters";
    $("bid-count").textContent = count ? `Showing ${numberFmt.format(count)} notice${count === 1 ? "" : "s"}` : "";
  },

  init() {
    $("bid-filters").addEventListener("submit", notices.apply);
    $("bid-filters").addEventListener("reset", (event) => {
      event.preventDefault();
      navigate("notices", new URLSearchParams());
    });
    $("f-sort").addEventListener("change", () => {
      // "Closing soon" means the deadlines still ahead: it ticks "Open only" (which can be unticked again).
      if ($("f-sort").value === CLOSING_SOON) $("f-open").checked = true;
      $("bid-filters").requestSubmit();
    });
    $("f-open").addEventListener("change", () => $("bid-filters").requestSubmit());
    $("bid-load-more").addEventListener("click", () => notices.loadMore());
    if ("IntersectionObserver" in window) {
      notices.observer = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting)) notices.loadMore();
      }, { rootMargin: "400px 0px" });
    }
  },
};

/** A deadline as local "YYYY-MM-DD HH:MM" in a <time>, "–" when the notice states none. */
function deadlineCell(iso) {
  const d = iso ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return "–";
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const node = el("time", { datetime: iso, text });
  if (d.getTime() <= Date.now()) node.classList.add("closed");
  return node;
}

/** An amount (a decimal string) with digit grouping done on the string, so no digit is lost to floating point:
 * "1,474,567,273원" for KRW, "GBP 120,000.5" otherwise; "–" when the notice states none. */
function fmtAmount(amount, currency) {
  if (amount === null || amount === undefined || amount === "") return "–";
  const [whole, cents] = String(amount).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (cents ? `.${cents}` : "");
  return currency === "KRW" || !currency ? `${grouped}원` : `${currency} ${grouped}`;
}

// ---------------------------------------------------------------- notice view

const FACT_LABELS = {
  notice_no: "공고번호", closes_at: "입찰마감", opens_at: "개찰일시", amount: "금액", amount_kind: "금액 종류",
  currency: "통화", vat_included: "부가세", contract_method: "계약방법", bid_method: "입찰방식",
  region_limit: "지역제한", procuring_entity: "공고기관", demand_entity: "수요기관", category: "분류",
};
const AMOUNT_KINDS = { estimated_price: "추정가격", base_amount: "기초금액", estimated_total: "추정금액", budget: "배정예산" };
const CATEGORIES = { works: "공사", goods: "물품", services: "용역", sale: "매각" };

const noticeView = {
  controller: null,

  /** Show one notice: its facts, and its body with the text each fact was read from highlighted. */
  async open(bidId) {
    const dialog = $("bid-view");
    noticeView.controller?.abort();
    noticeView.controller = new AbortController();
    dialog.dataset.bidId = String(bidId);
    dialog.dataset.state = "loading";
    $("bid-view-title").textContent = "Loading…";
    $("bid-view-facts").replaceChildren();
    $("bid-view-body").replaceChildren();
    $("bid-view-link").hidden = true;
    showProblem($("bid-view-error"), null);
    if (!dialog.open) dialog.showModal();
    try {
      const bid = await api(`${API}/bids/${bidId}`, { signal: noticeView.controller.signal });
      $("bid-view-title").textContent = bid.title;
      const href = safeUrl(bid.url);
      if (href) {
        $("bid-view-link").href = href;
        $("bid-view-link").hidden = false;
      }
      $("bid-view-facts").replaceChildren(...noticeView.facts(bid));
      $("bid-view-body").replaceChildren(...noticeView.body(bid.body, bid.facts));
      dialog.dataset.state = "ready";
    } catch (err) {
      if (err?.name === "AbortError") return;
      $("bid-view-title").textContent = "Notice";
      showProblem($("bid-view-error"), err);
      dialog.dataset.state = "error";
    }
  },

  /** <dt>/<dd> pairs of the facts the notice states. */
  facts(bid) {
    const out = [];
    for (const [name, fact] of Object.entries(bid.facts || {})) {
      if (fact.value === null || fact.value === undefined || name === "currency") continue;
      let value = fact.value;
      if (name === "closes_at" || name === "opens_at") value = deadlineCell(value);
      else if (name === "amount") value = fmtAmount(value, bid.facts.currency?.value);
      else if (name === "amount_kind") value = AMOUNT_KINDS[value] ?? value;
      else if (name === "category") value = CATEGORIES[value] ?? value;
      else if (name === "vat_included") value = value ? "포함" : "별도";
      out.push(el("div", { class: "fact", "data-fact": name },
        el("dt", { text: FACT_LABELS[name] ?? name }), el("dd", {}, value)));
    }
    if (!out.length) out.push(el("p", { class: "muted", text: "No facts found in this notice." }));
    return out;
  },

  /** The body as text nodes, with every evidence span in a <mark data-fact="…"> (overlapping spans share one). */
  body(text, facts) {
    if (!text) return [el("p", { class: "muted", text: "The notice body was not read (no detail page)." })];
    const spans = [];
    for (const [name, fact] of Object.entries(facts || {})) {
      const ev = fact.evidence;
      if (ev && ev.start >= 0 && ev.end <= text.length && ev.start < ev.end) spans.push({ ...ev, name });
    }
    const cuts = [...new Set([0, text.length, ...spans.flatMap((s) => [s.start, s.end])])].sort((a, b) => a - b);
    const out = [];
    for (let i = 0; i + 1 < cuts.length; i += 1) {
      const [start, end] = [cuts[i], cuts[i + 1]];
      const piece = text.slice(start, end);
      const names = spans.filter((s) => s.start <= start && end <= s.end).map((s) => s.name);
      out.push(names.length
        ? el("mark", { "data-fact": names.join(" "), title: names.map((n) => FACT_LABELS[n] ?? n).join(", "), text: piece })
        : piece);
    }
    return out;
  },

  init() {
    $("bid-view-close").addEventListener("click", () => $("bid-view").close());
    $("bid-view").addEventListener("close", () => noticeView.controller?.abort());
  },
};

// ---------------------------------------------------------------- crawls

const crawls = {
  jobs: new Map(), // id -> job
  pending: new Map(), // id -> Promise while fetching a job we heard about but have not seen
  idempotencyKey: null,

  async open() {
    if (state.loaded.has("crawls")) return;
    state.loaded.add("crawls");
    await crawls.loadSources(); // first, so that job titles can show source names
    await crawls.loadJobs();
  },

  async loadSources() {
    const select = $("crawl-source");
    try {
      const sources = await fetchAll(`${API}/sources?limit=100`);
      const options = sources.map((s) => el("option", { value: s.id, text: s.name || s.start_url || `#${s.id}` }));
      if (!options.length) options.push(el("option", { value: "", text: "No sources configured" }));
      select.replaceChildren(...options);
    } catch (err) {
      select.replaceChildren(el("option", { value: "", text: "Sources unavailable" }));
      showProblem($("crawl-error"), err);
    }
  },

  async loadJobs() {
    try {
      const page = await api(`${API}/crawls?limit=50`);
      crawls.jobs.clear();
      $("job-list").replaceChildren();
      for (const job of page.items || []) crawls.upsert(job, { append: true });
      showProblem($("crawl-error"), null);
    } catch (err) {
      showProblem($("crawl-error"), err);
    }
    crawls.updateEmpty();
  },

  async start(event) {
    event.preventDefault();
    const sourceId = Number($("crawl-source").value);
    if (!sourceId) return;
    // The key survives a failed attempt so that re-submitting the same crawl cannot start it twice.
    crawls.idempotencyKey ||= uuid();
    const button = $("crawl-start");
    button.disabled = true;
    try {
      const job = await api(`${API}/crawls`, {
        method: "POST", body: { source_id: sourceId }, headers: { "Idempotency-Key": crawls.idempotencyKey },
      });
      crawls.idempotencyKey = null;
      showProblem($("crawl-error"), null);
      crawls.upsert(job);
    } catch (err) {
      if (err.status && err.status < 500 && err.status !== 409) crawls.idempotencyKey = null;
      showProblem($("crawl-error"), err);
    } finally {
      button.disabled = false;
    }
  },

  async action(jobId, verb) {
    try {
      const job = await api(`${API}/crawls/${encodeURIComponent(jobId)}/${verb}`, { method: "POST" });
      showProblem($("crawl-error"), null);
      if (job?.id) crawls.upsert(job);
      else if (verb === "cancel") crawls.refreshJob(jobId);
      else crawls.loadJobs();
    } catch (err) {
      showProblem($("crawl-error"), err);
    }
  },

  async refreshJob(jobId) {
    if (crawls.pending.has(jobId)) return crawls.pending.get(jobId);
    const promise = api(`${API}/crawls/${encodeURIComponent(jobId)}`)
      .then((job) => crawls.upsert(job))
      .catch(() => null)
      .finally(() => crawls.pending.delete(jobId));
    crawls.pending.set(jobId, promise);
    return promise;
  },

  /** Insert or update a job's list item. New jobs go to the top unless `append`. */
  upsert(job, { append = false } = {}) {
    const known = crawls.jobs.get(job.id);
    // Replayed events and slow refreshes can arrive late: never move a job back to an earlier state.
    if (known && job.state && STATE_RANK[job.state] < STATE_RANK[known.state]) {
      job = { ...job, state: known.state, progress: undefined };
    }
    const merged = { ...known, ...job, progress: { ...known?.progress, ...job.progress } };
    crawls.jobs.set(job.id, merged);
    let item = document.querySelector(`#job-list [data-job-id="${CSS.escape(job.id)}"]`);
    if (!item) {
      item = crawls.build(merged);
      const list = $("job-list");
      if (append) list.append(item); else list.prepend(item);
    }
    crawls.paint(item, merged);
    crawls.updateEmpty();
  },

  build(job) {
    const item = el("li", { class: "job", "data-job-id": job.id });
    const title = el("span", { class: "job-title" });
    const badge = el("span", { class: "badge job-state" });
    const cancel = el("button", { type: "button", class: "btn btn-small btn-danger job-cancel", text: "Cancel" });
    const retry = el("button", { type: "button", class: "btn btn-small job-retry", text: "Retry" });
    cancel.addEventListener("click", () => crawls.action(job.id, "cancel"));
    retry.addEventListener("click", () => crawls.action(job.id, "retry"));
    const head = el("div", { class: "job-head" }, badge, title, el("span", { class: "job-meta" }),
      el("div", { class: "job-actions" }, cancel, retry));
    const progress = el("progress", { class: "job-progress", max: "100", "aria-label": "Crawl progress" });
    const counters = el("dl", { class: "counters" });
    for (const [key, label] of [["pages", "Pages"], ["new", "New"], ["updated", "Updated"], ["errors", "Errors"]]) {
      counters.append(el("div", {}, el("dt", { text: label }), el("dd", { "data-counter": key })));
    }
    const error = el("p", { class: "job-error", hidden: true });
    const log = el("ol", { class: "job-events", "aria-label": "Event log" });
    const details = el("details", { class: "job-log" }, el("summary", { text: "Event log" }), log);
    details.addEventListener("toggle", () => { if (details.open) crawls.loadEvents(job.id, log); });
    item.append(head, progress, counters, error, details);
    return item;
  },

  paint(item, job) {
    const p = job.progress || {};
    const jobState = job.state || "queued";
    item.dataset.state = jobState;
    const badge = item.querySelector(".job-state");
    badge.textContent = jobState;
    badge.dataset.badge = jobState;
    const source = job.source_id ? crawls.sourceName(job.source_id) : job.url;
    item.querySelector(".job-title").textContent = source || "Crawl";
    const attempt = job.attempt > 1 ? ` · attempt ${job.attempt}` : "";
    item.querySelector(".job-meta").textContent =
      `${fmtTime(job.finished_at || job.started_at || job.created_at)}${attempt}${job.retry_of ? " · retry" : ""}`;

    const progress = item.querySelector("progress");
    const total = Number(p.pages_total) || 0;
    const done = Number(p.pages_done) || 0;
    let percent = total > 0 ? Math.min(100, Math.round((done / total) * 100)) : 0;
    if (jobState === "succeeded") percent = 100;
    if (total > 0 || TERMINAL.has(jobState)) {
      progress.value = percent;
    } else {
      progress.removeAttribute("value"); // indeterminate while the number of pages is unknown
    }
    progress.dataset.progress = String(percent);
    progress.setAttribute("aria-valuetext", total > 0 ? `${done} of ${total} pages` : `${done} pages`);

    const counter = (key) => item.querySelector(`[data-counter="${key}"]`);
    counter("pages").textContent = total > 0 ? `${fmtNum(done)} / ${fmtNum(total)}` : fmtNum(done);
    counter("new").textContent = fmtNum(p.items_new ?? 0);
    counter("updated").textContent = fmtNum(p.items_updated ?? 0);
    counter("errors").textContent = fmtNum(p.errors ?? 0);

    const error = item.querySelector(".job-error");
    error.textContent = job.error ? String(errorText(job.error)) : "";
    error.hidden = !job.error;
    item.querySelector(".job-cancel").disabled = TERMINAL.has(jobState);
    item.querySelector(".job-retry").disabled = !(jobState === "failed" || jobState === "cancelled");
  },

  sourceName(id) {
    const option = $("crawl-source").querySelector(`option[value="${CSS.escape(String(id))}"]`);
    return option ? option.textContent : `Source #${id}`;
  },

  async loadEvents(jobId, log) {
    log.replaceChildren(el("li", { class: "muted", text: "Loading…" }));
    try {
      const data = await api(`${API}/crawls/${encodeURIComponent(jobId)}/events`);
      const events = Array.isArray(data) ? data : data.items || [];
      log.replaceChildren();
      for (const event of events) crawls.appendEvent(log, event);
      if (!events.length) log.append(el("li", { class: "muted", text: "No events yet." }));
    } catch (err) {
      log.replaceChildren(el("li", { text: err.problem?.detail || err.message }));
    }
  },

  appendEvent(log, event) {
    if (event.id !== undefined && event.id !== null) {
      if (log.querySelector(`[data-event-id="${CSS.escape(String(event.id))}"]`)) return;
    }
    log.querySelector(".muted")?.remove();
    const data = event.data || {};
    const p = data.progress || (event.type === "job.progress" ? data : null);
    let summary = "";
    if (p && (p.pages_done !== undefined || p.items_seen !== undefined)) {
      summary = `pages ${p.pages_done ?? 0}${p.pages_total ? `/${p.pages_total}` : ""}, new ${p.items_new ?? 0}, updated ${p.items_updated ?? 0}, errors ${p.errors ?? 0}`;
    }
    if (data.error || data.message) summary = [summary, errorText(data.error || data.message)].filter(Boolean).join(" — ");
    log.append(el("li", { "data-event-id": event.id ?? null },
      el("time", { datetime: event.at || event.created_at, text: fmtTime(event.at || event.created_at, { timeOnly: true }) }),
      el("span", { class: "ev-type", text: event.type || event.kind || "event" }),
      typeof summary === "string" ? summary : JSON.stringify(summary)));
    log.scrollTop = log.scrollHeight;
  },

  /** Apply a `job.*` WebSocket message. */
  onEvent(message) {
    if (!state.loaded.has("crawls") || !message.job_id) return;
    const data = message.data || {};
    const stateFromType = message.type.slice("job.".length);
    const nextState = data.state || (stateFromType === "progress" ? "running" : stateFromType);
    const known = crawls.jobs.get(message.job_id);
    if (!known) {
      crawls.refreshJob(message.job_id);
      return;
    }
    const update = { id: message.job_id, state: nextState };
    // Progress events carry a per-job sequence number; an older one must not overwrite newer counters.
    const seq = data.seq ?? message.seq;
    if (data.progress && !(seq !== undefined && known.seq !== undefined && seq <= known.seq)) {
      update.progress = data.progress;
      if (seq !== undefined) update.seq = seq;
    }
    if (data.error) update.error = data.error;
    if (message.type === "job.started") update.started_at = message.at;
    if (TERMINAL.has(nextState)) update.finished_at = data.finished_at || message.at;
    crawls.upsert(update);
    // The final event may not carry everything (error text, timestamps): read the job once more.
    if (TERMINAL.has(nextState)) crawls.refreshJob(message.job_id);
    const log = document.querySelector(`#job-list [data-job-id="${CSS.escape(message.job_id)}"] details[open] .job-events`);
    if (log) crawls.appendEvent(log, message);
  },

  updateEmpty() {
    $("crawl-empty").hidden = crawls.jobs.size > 0;
  },

  init() {
    $("crawl-form").addEventListener("submit", crawls.start);
    $("crawl-source").addEventListener("change", () => { crawls.idempotencyKey = null; });
    $("crawl-refresh").addEventListener("click", () => crawls.loadJobs());
  },
};

// ---------------------------------------------------------------- analytics

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, String(value));
  }
  node.append(...children);
  return node;
}

const svgTitle = (text) => svg("title", { text });

/** Round a value up to a "nice" step (1, 2, 5 × 10^n). */
function niceStep(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5]) if (step * power >= value) return step * power;
  return 10 * power;
}

const analytics = {
  open() {
    if (state.loaded.has("analytics")) return;
    state.loaded.add("analytics");
    analytics.loadDepartments();
    analytics.loadDaily();
  },

  formParams(form) {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (String(value).trim()) params.set(key, String(value).trim());
    return params;
  },

  async loadDepartments(event) {
    event?.preventDefault();
    const chart = $("hv-chart");
    try {
      const data = await api(`${API}/analytics/high-value-departments?${analytics.formParams($("hv-form"))}`);
      showProblem($("hv-error"), null);
      chart.replaceChildren(analytics.barChart(data.items || [], data.min_views));
    } catch (err) {
      chart.replaceChildren();
      showProblem($("hv-error"), err);
    }
  },

  async loadDaily(event) {
    event?.preventDefault();
    const chart = $("daily-chart");
    try {
      const data = await api(`${API}/analytics/daily-counts?${analytics.formParams($("daily-form"))}`);
      showProblem($("daily-error"), null);
      chart.replaceChildren(...analytics.columnChart(data.items || []));
    } catch (err) {
      chart.replaceChildren();
      showProblem($("daily-error"), err);
    }
  },

  /** Horizontal bars: department on the left, count at the end of each bar. */
  barChart(items, minViews) {
    if (!items.length) return el("p", { class: "muted", text: "No department has notices above this view count in the period." });
    const width = 640, labelW = 170, valueW = 48, rowH = 28, top = 8;
    const height = top * 2 + items.length * rowH;
    const max = Math.max(...items.map((i) => i.high_value_bid_count));
    const plotW = width - labelW - valueW;
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "hv-title hv-desc", class: "bar-chart",
    }, svg("desc", { id: "hv-desc", text: `Notices with at least ${minViews ?? ""} views, by department.` }));
    items.forEach((item, i) => {
      const y = top + i * rowH;
      const w = Math.max(2, (item.high_value_bid_count / max) * plotW);
      const label = item.department || "(없음)";
      const short = label.length > 13 ? `${label.slice(0, 12)}…` : label;
      root.append(svg("g", { "data-department": label },
        svgTitle(`${label}: ${numberFmt.format(item.high_value_bid_count)}`),
        svg("text", { class: "bar-label", x: labelW - 8, y: y + rowH / 2 + 4, "text-anchor": "end", text: short }),
        svg("rect", { class: "bar", x: labelW, y: y + 5, width: w, height: rowH - 10, rx: 3 }),
        svg("text", { class: "bar-value", x: labelW + w + 6, y: y + rowH / 2 + 4, text: numberFmt.format(item.high_value_bid_count) })));
    });
    root.append(svg("line", { class: "axis", x1: labelW, x2: labelW, y1: top, y2: height - top }));
    return root;
  },

  /** Columns of notices per day (gaps filled with zero) with total views as a line on its own scale. */
  columnChart(rawItems) {
    if (!rawItems.some((i) => i.bid_count > 0)) return [el("p", { class: "muted", text: "No notices in this period." })];
    const byDate = new Map(rawItems.map((i) => [String(i.date).slice(0, 10), { ...i, date: String(i.date).slice(0, 10) }]));
    const sorted = [...byDate.keys()].sort();
    const items = [];
    for (let d = new Date(`${sorted[0]}T00:00:00Z`); d <= new Date(`${sorted.at(-1)}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 1)) {
      const key = d.toISOString().slice(0, 10);
      items.push(byDate.get(key) || { date: key, bid_count: 0, total_views: 0 });
    }
    const width = 640, height = 260, left = 40, right = 48, top = 12, bottom = 34;
    const plotW = width - left - right, plotH = height - top - bottom;
    // Grid lines follow round notice counts; the views axis is scaled to land on the same lines.
    const countStep = Math.max(1, niceStep(Math.max(...items.map((i) => i.bid_count)) / 4));
    const ticks = Math.max(1, Math.ceil(Math.max(...items.map((i) => i.bid_count)) / countStep));
    const maxCount = countStep * ticks;
    const maxViews = niceStep(Math.max(...items.map((i) => Number(i.total_views) || 0)) / ticks) * ticks;
    const slot = plotW / items.length;
    const barW = Math.max(1, Math.min(28, slot * 0.7));
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "daily-title", class: "column-chart" });
    for (let t = 0; t <= ticks; t++) {
      const y = top + plotH - (t / ticks) * plotH;
      root.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y, y2: y }),
        svg("text", { class: "tick", x: left - 6, y: y + 3, "text-anchor": "end", text: numberFmt.format((maxCount * t) / ticks) }),
        svg("text", { class: "tick", x: width - right + 6, y: y + 3, text: numberFmt.format((maxViews * t) / ticks) }));
    }
    const labelEvery = Math.ceil(items.length / 8);
    const points = [];
    items.forEach((item, i) => {
      const cx = left + slot * i + slot / 2;
      const h = (item.bid_count / maxCount) * plotH;
      const views = Number(item.total_views) || 0;
      points.push(`${cx.toFixed(1)},${(top + plotH - (views / maxViews) * plotH).toFixed(1)}`);
      root.append(svg("g", { "data-date": item.date },
        svgTitle(`${item.date}: ${numberFmt.format(item.bid_count)}건, 조회수 ${numberFmt.format(views)}`),
        svg("rect", { class: "bar", x: cx - barW / 2, y: top + plotH - h, width: barW, height: Math.max(h, 0), rx: 2 }),
        svg("rect", { x: cx - slot / 2, y: top, width: slot, height: plotH, fill: "transparent" })));
      if (i % labelEvery === 0) {
        root.append(svg("text", { class: "tick", x: cx, y: height - bottom + 16, "text-anchor": "middle", text: item.date.slice(5) }));
      }
    });
    root.append(svg("polyline", { class: "views-line", points: points.join(" ") }),
      svg("line", { class: "axis", x1: left, x2: width - right, y1: top + plotH, y2: top + plotH }));
    const legend = el("div", { class: "chart-legend" },
      el("span", {}, el("span", { class: "swatch swatch-bids" }), "Notices (left axis)"),
      el("span", {}, el("span", { class: "swatch swatch-views" }), "Total views (right axis)"));
    return [root, legend];
  },

  init() {
    $("hv-form").addEventListener("submit", analytics.loadDepartments);
    $("daily-form").addEventListener("submit", analytics.loadDaily);
  },
};

// ---------------------------------------------------------------- alerts

const alerts = {
  async open() {
    if (state.loaded.has("alerts")) return;
    state.loaded.add("alerts");
    await alerts.load();
  },

  async load() {
    try {
      const items = await fetchAll(`${API}/alerts?limit=100`);
      $("alert-list").replaceChildren(...items.map(alerts.item));
      showProblem($("alert-error"), null);
    } catch (err) {
      showProblem($("alert-error"), err);
    }
    alerts.updateEmpty();
  },

  item(alert) {
    const chips = el("div", { class: "alert-filters" });
    for (const [key, value] of Object.entries(alert.filters || {})) {
      if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) continue;
      chips.append(el("span", { class: "chip", text: `${key}: ${Array.isArray(value) ? value.join(", ") : value}` }));
    }
    if (!chips.childElementCount) chips.append(el("span", { class: "chip", text: "all notices" }));
    const remove = el("button", { type: "button", class: "btn btn-small btn-danger alert-delete", text: "Delete",
      "aria-label": `Delete alert ${alert.name}` });
    remove.addEventListener("click", () => alerts.remove(alert.id, remove));
    const feed = el("button", { type: "button", class: "btn btn-small alert-feed", text: "Feed & calendar",
      "aria-label": `Feed and calendar links of alert ${alert.name}` });
    const links = el("div", { class: "alert-links", hidden: true });
    feed.addEventListener("click", () => alerts.showLinks(alert, links, feed));
    const csv = el("button", { type: "button", class: "btn btn-small alert-csv", text: "Download CSV",
      "aria-label": `Download the notices of alert ${alert.name} as CSV` });
    csv.addEventListener("click", () => alerts.download(alert, csv));
    return el("li", { class: "alert-item", "data-alert-id": alert.id },
      el("span", { class: "alert-name", text: alert.name }), chips, feed, csv, remove, links);
  },

  /** The alert's secret feed links (created on first use): copy, subscribe in a calendar, regenerate. */
  async showLinks(alert, box, button, rotate = false) {
    button.disabled = true;
    const url = `${API}/alerts/${encodeURIComponent(alert.id)}/feed`;
    try {
      // PUT: the existing links (created on first use); POST: new links, the old ones stop working.
      const feed = await api(url, { method: rotate ? "POST" : "PUT" });
      const copy = el("button", { type: "button", class: "btn btn-small alert-copy-feed", text: "Copy feed URL" });
      copy.addEventListener("click", async () => {
        await navigator.clipboard.writeText(feed.atom_url);
        copy.textContent = "Copied";
      });
      const calendar = el("a", { class: "btn btn-small alert-calendar", href: feed.webcal_url, text: "Add to calendar" });
      const regenerate = el("button", { type: "button", class: "btn btn-small alert-regenerate", text: "Regenerate link",
        title: "New links; the current ones stop working at once" });
      regenerate.addEventListener("click", () => alerts.showLinks(alert, box, regenerate, true));
      box.replaceChildren(
        el("input", { class: "alert-feed-url", readonly: true, value: feed.atom_url, "aria-label": "Feed URL" }),
        copy, calendar, regenerate);
      box.hidden = false;
      showProblem($("alert-error"), null);
    } catch (err) {
      showProblem($("alert-error"), err);
    } finally {
      button.disabled = false;
    }
  },

  /** The alert's search as a CSV file (the export needs the bearer token, so it is fetched, then saved). */
  async download(alert, button) {
    button.disabled = true;
    try {
      const params = new URLSearchParams({ format: "csv" });
      for (const [key, value] of Object.entries(alert.filters || {})) {
        if (value === null || value === undefined || value === "") continue;
        for (const v of Array.isArray(value) ? value : [value]) params.append(key, String(v));
      }
      const response = await fetch(`${API}/bids/export?${params}`, { headers: { Authorization: `Bearer ${auth.token}` } });
      if (!response.ok) {
        const problem = await response.json().catch(() => ({ title: `HTTP ${response.status}` }));
        throw new ApiError(response.status, problem);
      }
      const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "")?.[1] || "bids.csv";
      const link = el("a", { href: URL.createObjectURL(await response.blob()), download: name });
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      showProblem($("alert-error"), null);
    } catch (err) {
      showProblem($("alert-error"), err);
    } finally {
      button.disabled = false;
    }
  },

  async create(event) {
    event.preventDefault();
    const form = $("alert-form");
    const data = new FormData(form);
    const filters = {};
    const text = (key) => String(data.get(key) ?? "").trim();
    const departments = text("department").split(",").map((v) => v.trim()).filter(Boolean);
    if (departments.length) filters.department = departments;
    if (text("q")) filters.q = text("q");
    for (const key of ["views_gte", "views_lte"]) if (text(key)) filters[key] = Number(text(key));
    for (const key of ["posted_from", "posted_to"]) if (text(key)) filters[key] = text(key);
    const button = $("alert-create");
    button.disabled = true;
    try {
      const alert = await api(`${API}/alerts`, { method: "POST", body: { name: text("name"), filters, webhook_url: null } });
      $("alert-list").prepend(alerts.item(alert));
      form.reset();
      showProblem($("alert-error"), null);
    } catch (err) {
      showProblem($("alert-error"), err);
    } finally {
      button.disabled = false;
      alerts.updateEmpty();
    }
  },

  async remove(id, button) {
    button.disabled = true;
    try {
      await api(`${API}/alerts/${encodeURIComponent(id)}`, { method: "DELETE" });
      button.closest("li").remove();
      showProblem($("alert-error"), null);
    } catch (err) {
      button.disabled = false;
      showProblem($("alert-error"), err);
    }
    alerts.updateEmpty();
  },

  /** Pre-fill the alert form with the filters currently applied to the notices list. */
  copyNoticeFilters() {
    const filters = notices.filtersFromUrl();
    const form = $("alert-form");
    for (const key of ["q", "department", "views_gte", "views_lte", "posted_from", "posted_to"]) {
      const value = filters[key];
      form.elements.namedItem(key).value = Array.isArray(value) ? value.join(", ") : value ?? "";
    }
    $("a-name").focus();
  },

  updateEmpty() {
    $("alert-empty").hidden = $("alert-list").childElementCount > 0;
  },

  init() {
    $("alert-form").addEventListener("submit", alerts.create);
    $("alert-from-notices").addEventListener("click", alerts.copyNoticeFilters);
  },
};

// ---------------------------------------------------------------- source wizard (admins)

/** Paste a board URL, see what Forest reads (POST /sources/preview), edit the definition, save, crawl. */
const wizard = {
  previewed: null, // {start_url, definition} of the last good preview

  async preview(definition) {
    const url = $("w-url").value.trim();
    const body = { start_url: url };
    if (definition) body.definition = definition;
    const button = $("wizard-preview");
    button.disabled = true;
    try {
      const result = await api(`${API}/sources/preview`, { method: "POST", body });
      showProblem($("wizard-error"), null);
      wizard.show(url, result);
    } catch (err) {
      showProblem($("wizard-error"), err);
    } finally {
      button.disabled = false;
    }
  },

  show(url, result) {
    $("wizard-result").hidden = false;
    $("wizard-saved").hidden = true;
    const rows = result.rows.map((row) => el("tr", { "data-external-id": row.external_id, "data-pinned": String(row.pinned) },
      el("td", { text: row.external_id }), el("td", { text: row.title }), el("td", { text: row.department }),
      el("td", { text: row.post_date }), el("td", { text: fmtNum(row.views) }), el("td", { text: row.pinned ? "고정 pinned" : "" })));
    $("wizard-row-list").replaceChildren(...rows);
    $("wizard-row-errors").replaceChildren(...result.row_errors.map((e) =>
      el("li", { class: "row-error", text: `${e.reason} — ${e.snippet}` })));
    const next = result.next_page;
    const nextText = next ? `page 2: ${next.method} ${next.url}${Object.keys(next.form).length ? ` ${new URLSearchParams(next.form)}` : ""}` : "no page 2 found";
    $("wizard-summary").textContent = `${result.rows.length} rows read, ${result.row_errors.length} rows with errors` +
      `${result.detected ? " (layout detected)" : ""}; ${nextText}` + (result.errors.length ? `; ${result.errors.join("; ")}` : "");
    $("wizard-result").dataset.ok = String(result.ok);
    if (result.definition) $("w-definition").value = JSON.stringify(result.definition, null, 2);
    wizard.previewed = { start_url: url, definition: result.definition };
    if (!$("w-name").value) $("w-name").value = new URL(url).host + new URL(url).pathname;
  },

  readDefinition() {
    try {
      return JSON.parse($("w-definition").value);
    } catch (err) {
      showProblem($("wizard-error"), { problem: { detail: `The definition is not valid JSON: ${err.message}` } });
      return null;
    }
  },

  async save(event) {
    event.preventDefault();
    const definition = wizard.readDefinition();
    if (!definition) return;
    const schedule = $("w-schedule").value.trim();
    const button = $("wizard-save");
    button.disabled = true;
    try {
      const source = await api(`${API}/sources`, { method: "POST", body: {
        name: $("w-name").value.trim(), start_url: $("w-url").value.trim(), definition, schedule: schedule || null } });
      wizard.sourceId = source.id;
      state.loaded.delete("crawls"); // the crawl form lists sources: reload it with the new one
      $("wizard-saved-text").textContent = `Saved as source ${source.id} (${source.name}).`;
      $("wizard-saved").dataset.sourceId = String(source.id);
      $("wizard-saved").hidden = false;
      showProblem($("wizard-error"), null);
    } catch (err) {
      showProblem($("wizard-error"), err);
    } finally {
      button.disabled = false;
    }
  },

  async crawl() {
    try {
      await api(`${API}/crawls`, { method: "POST", body: { source_id: wizard.sourceId }, headers: { "Idempotency-Key": uuid() } });
      navigate("crawls");
    } catch (err) {
      showProblem($("wizard-error"), err);
    }
  },

  init() {
    $("wizard-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const url = $("w-url").value.trim();
      const same = wizard.previewed && wizard.previewed.start_url === url;
      wizard.preview(same ? wizard.readDefinition() : null);
    });
    $("wizard-repreview").addEventListener("click", () => {
      const definition = wizard.readDefinition();
      if (definition) wizard.preview(definition);
    });
    $("wizard-save-form").addEventListener("submit", wizard.save);
    $("wizard-crawl").addEventListener("click", wizard.crawl);
  },
};

// ---------------------------------------------------------------- live updates

const live = {
  socket: null,
  timer: null,
  watchdog: null,
  attempt: 0,
  running: false,
  seen: new Set(),

  setStatus(status) {
    const box = $("ws-status");
    box.dataset.status = status;
    box.querySelector(".ws-label").textContent = { open: "live", connecting: "reconnecting…", closed: "offline" }[status];
    if (status === "connecting" && live.attempt === 0) box.querySelector(".ws-label").textContent = "connecting…";
  },

  start() {
    if (live.running) return;
    live.running = true;
    live.connect();
  },

  stop() {
    live.running = false;
    live.attempt = 0;
    live.seen.clear();
    clearTimeout(live.timer);
    clearTimeout(live.watchdog);
    const socket = live.socket;
    live.socket = null;
    socket?.close(1000, "logout");
    live.setStatus("closed");
  },

  async connect() {
    clearTimeout(live.timer);
    if (!live.running || live.socket) return;
    live.setStatus("connecting");
    let ticket;
    try {
      ticket = (await api(`${API}/auth/ws-ticket`, { method: "POST" })).ticket;
    } catch (err) {
      if (err.status === 401) return; // api() already logged out
      live.scheduleReconnect();
      return;
    }
    if (!live.running || live.socket) return;
    const params = new URLSearchParams({ ticket });
    const after = sessionStorage.getItem(LAST_EVENT_KEY);
    if (after) params.set("after", after);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/notifications?${params}`);
    live.socket = socket;
    socket.addEventListener("open", () => {
      live.attempt = 0;
      live.setStatus("open");
    });
    socket.addEventListener("message", (event) => live.onMessage(event));
    socket.addEventListener("close", () => {
      if (live.socket !== socket) return;
      live.socket = null;
      clearTimeout(live.watchdog);
      live.scheduleReconnect();
    });
  },

  scheduleReconnect() {
    if (!live.running) return;
    live.setStatus("connecting");
    const delay = Math.min(10000, 500 * 2 ** live.attempt) * (0.75 + Math.random() * 0.5);
    live.attempt = Math.min(live.attempt + 1, 10);
    live.timer = setTimeout(() => live.connect(), delay);
  },

  /** Reconnect now instead of waiting out the backoff (the network or the tab came back). */
  nudge() {
    if (live.running && !live.socket) {
      live.attempt = 0;
      live.connect();
    }
  },

  onMessage(event) {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    if (!message || typeof message.type !== "string") return;
    if (live.socket && message.type === "heartbeat") {
      // Once the server is known to send heartbeats, silence means a dead connection.
      clearTimeout(live.watchdog);
      const socket = live.socket;
      live.watchdog = setTimeout(() => socket.close(4000, "heartbeat timeout"), 60000);
      return;
    }
    if (message.id !== undefined && message.id !== null) {
      const id = String(message.id);
      if (live.seen.has(id)) return; // replayed after a reconnect
      live.seen.add(id);
      if (live.seen.size > 2000) live.seen.delete(live.seen.values().next().value);
      sessionStorage.setItem(LAST_EVENT_KEY, id);
    }
    if (message.type.startsWith("job.")) crawls.onEvent(message);
    else if (message.type === "bid.new") toasts.bid(message);
  },

  init() {
    window.addEventListener("online", live.nudge);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) live.nudge(); });
  },
};

// ---------------------------------------------------------------- toasts

const toasts = {
  bid(message) {
    const data = message.data || {};
    const bid = data.bid || {};
    const alertName = data.alert_name ?? data.alert?.name ?? data.name;
    const href = safeUrl(bid.url);
    const title = href
      ? el("a", { class: "toast-title", href, target: "_blank", rel: "noopener noreferrer", text: bid.title || "New notice" })
      : el("span", { class: "toast-title", text: bid.title || "New notice" });
    // A summarised event (many matches in one crawl batch) carries the first notice and the count.
    const more = data.count > 1 ? `+${fmtNum(data.count - 1)} more` : null;
    const meta = [bid.department, bid.post_date, bid.views !== undefined ? `조회 ${fmtNum(bid.views)}` : null, more]
      .filter(Boolean).join(" · ");
    toasts.show(alertName ? `New notice · ${alertName}` : "New notice", title, meta,
      { "data-bid-id": bid.id, "data-alert-id": message.alert_id ?? data.alert_id });
  },

  show(kicker, titleNode, meta, attrs = {}) {
    const close = el("button", { type: "button", class: "btn btn-small btn-quiet toast-close", "aria-label": "Dismiss", text: "×" });
    const toast = el("div", { class: "toast", role: "status", "aria-live": "polite", ...attrs },
      el("span", { class: "toast-kicker", text: kicker }), titleNode, meta ? el("span", { class: "toast-meta", text: meta }) : null, close);
    const dismiss = () => toast.remove();
    close.addEventListener("click", dismiss);
    $("toasts").append(toast);
    setTimeout(dismiss, TOAST_MS);
    const max = window.matchMedia("(max-width: 640px)").matches ? 2 : 4;
    while ($("toasts").childElementCount > max) $("toasts").firstElementChild.remove();
  },
};

// ---------------------------------------------------------------- boot

function init() {
  $("auth-form").addEventListener("submit", onAuthSubmit);
  $("logout-btn").addEventListener("click", () => logout());
  $("tabs").addEventListener("click", (event) => {
    const link = event.target.closest("a[data-tab]");
    if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    navigate(link.dataset.tab);
  });
  window.addEventListener("popstate", render);
  notices.init();
  noticeView.init();
  crawls.init();
  analytics.init();
  alerts.init();
  wizard.init();
  live.init();
  if (auth.token) showApp(); else showAuth();
}

init();
