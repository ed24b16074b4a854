/*
 * ui.js: the DOM pieces the viewer and streamer pages share. Every piece of text that comes
 * from the network goes into the page through textContent (never innerHTML), so a comment
 * such as <img src=x onerror=...> is shown as the characters it is.
 */
import { formatPrice } from './livecart.js';

export { formatPrice };

/** The page's URL parameters as a plain object of strings (empty ones left out). */
export function pageParams() {
  const out = {};
  for (const [k, v] of new URLSearchParams(globalThis.location.search)) if (v !== '') out[k] = v;
  return out;
}

/**
 * Starts a page: with a valid ?room and ?user it shows #app, titles it and returns the
 * parameters; otherwise it shows the join form and returns null.
 */
export function openPage(titleSuffix) {
  const params = pageParams();
  if (!validRoom(params.room) || !params.user) {
    showJoinForm(document.getElementById('join'), params);
    return null;
  }
  document.getElementById('app').hidden = false;
  document.getElementById('room-title').textContent = params.room;
  document.title = `${params.room} · ${titleSuffix}`;
  return params;
}

const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function validRoom(room) {
  return typeof room === 'string' && ROOM_RE.test(room);
}

/** An element with a class, optional text and attributes (data-* via {dataset: {...}}). */
export function el(tag, cls, text, attrs) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'dataset') Object.assign(e.dataset, v);
      else e.setAttribute(k, v);
    }
  }
  return e;
}

export function byTestId(id, root = document) {
  return root.querySelector(`[data-testid="${id}"]`);
}

/** "2 teams open · 3 waiting" (waiting left out until the server has said). */
export function teamsText(sale) {
  if (!sale.teams) return '';
  const t = `${sale.teams} team${sale.teams === 1 ? '' : 's'} open`;
  return sale.waiting === null || sale.waiting === undefined ? t : `${t} · ${sale.waiting} waiting`;
}

/** A coupon's discount: "5.00 off" or "20% off". */
export function discountText(c) {
  if (!c) return '';
  if (typeof c.off === 'number') return `${formatPrice(c.off)} off`;
  if (typeof c.pct === 'number') return `${c.pct}% off`;
  return 'coupon';
}

/** A coupon's conditions: "on mug · from 10.00" ('' when it applies to every buy). */
export function couponTerms(c, titleOf = (sku) => sku) {
  const parts = [];
  if (c && c.sku) parts.push(`on ${titleOf(c.sku)}`);
  if (c && typeof c.min_price === 'number' && c.min_price > 0) parts.push(`from ${formatPrice(c.min_price)}`);
  return parts.join(' · ');
}

/** Milliseconds as a countdown: "0:42", "4:05", "1:02:03" (never negative). */
export function formatCountdown(ms) {
  const total = Math.max(0, Math.ceil((Number(ms) || 0) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** 1234 -> "1,234"; 12345 -> "12.3K"; 1234567 -> "1.2M". */
export function formatCount(n) {
  n = Number(n) || 0;
  if (n < 10000) return n.toLocaleString('en-US');
  if (n < 1e6) return (Math.floor(n / 100) / 10).toLocaleString('en-US') + 'K';
  return (Math.floor(n / 1e5) / 10).toLocaleString('en-US') + 'M';
}

/** Shows a number in an element: the formatted text, the raw value in data-value. */
export function setCount(node, n) {
  if (!node) return;
  const v = String(Number(n) || 0);
  if (node.dataset.value === v) return;
  node.dataset.value = v;
  node.textContent = formatCount(n);
}

/**
 * The join form, shown when the page lacks room or user: it submits to the page itself
 * (GET), so the page comes back with them as URL parameters.
 */
export function showJoinForm(form, params) {
  for (const name of ['room', 'user', 'token']) {
    const input = form.elements.namedItem(name);
    if (input && params[name]) input.value = params[name];
  }
  const user = form.elements.namedItem('user');
  if (user && !user.value) user.value = 'guest-' + Math.floor(1000 + Math.random() * 9000);
  form.hidden = false;
  const room = form.elements.namedItem('room');
  const roomError = form.querySelector('.form-error');
  form.addEventListener('submit', (ev) => {
    if (room && !validRoom(room.value)) {
      ev.preventDefault();
      if (roomError) roomError.textContent = 'A room is 1-64 letters, digits, _ or -.';
      room.focus();
      return;
    }
    // leave out an empty token so that it does not end up in the URL
    const token = form.elements.namedItem('token');
    if (token && !token.value) token.disabled = true;
  });
  (room && !room.value ? room : user).focus();
}

const STATE_TEXT = {
  idle: 'offline',
  connecting: 'connecting…',
  open: 'live',
  reconnecting: 'reconnecting…',
  closed: 'offline',
};

/** Keeps a status element in step with the client's connection state. */
export function bindStatus(client, node) {
  let tick = null;
  const render = (ev) => {
    const state = ev ? ev.state : client.state;
    node.dataset.state = state;
    let text = STATE_TEXT[state] || state;
    if (state === 'reconnecting') {
      const s = Math.ceil(client.retryInMs / 1000);
      if (s > 0) text = `reconnecting in ${s}s…`;
    }
    if (state === 'closed' && client.reason && client.reason !== 'closed by client') text = `offline: ${client.reason}`;
    node.textContent = text;
    node.title = client.shard && state === 'open' ? `connected to ${client.shard}` : client.reason || '';
    document.body.dataset.connection = state;
    if (state === 'reconnecting' && !tick) tick = setInterval(() => render(), 1000);
    if (state !== 'reconnecting' && tick) { clearInterval(tick); tick = null; }
  };
  client.on('state', render);
  render();
}

/** A short message at the bottom of the screen. */
export function makeToast(node) {
  let timer = null;
  return (text, kind = 'info') => {
    node.textContent = text;
    node.dataset.kind = kind;
    node.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(() => { node.hidden = true; }, 3500);
  };
}

export const ERROR_TEXT = {
  rate_limited: 'Slow down a little: too many messages at once.',
  muted: 'A moderator muted you for now.',
  filtered: 'That comment was blocked by the word filter.',
  banned: 'You were removed from this room.',
  unauthorized: 'Your token was not accepted.',
  token_expired: 'Your session expired.',
  forbidden: 'Only the streamer can do that.',
  unavailable: 'The server is busy. Please try again.',
  unknown: 'No confirmation yet: it may have gone through (your comment is sent again automatically).',
  too_large: 'That message is too long.',
};

/**
 * The room's comment list: newest at the bottom, at most `max` nodes, follows the bottom
 * unless the reader scrolled up (then a "new comments" button appears). Appends are batched
 * (one layout per batch, also in background tabs where animation frames do not run).
 */
export class CommentList {
  constructor(list, { me = null, max = 300, newBelow = null, actions = null } = {}) {
    this.list = list;
    this.me = me;
    this.max = max;
    this.newBelow = newBelow;
    this.actions = actions; // (item, li) => extra nodes (the streamer's moderation buttons)
    this.byId = new Map();
    this.queue = [];
    this.timer = null;
    // Following the newest comment until the reader scrolls up; a layout change (a sale card
    // appearing above) must not count as scrolling up.
    this.following = true;
    list.addEventListener('scroll', () => {
      this.following = this.atEnd();
      if (this.following && newBelow) newBelow.hidden = true;
    }, { passive: true });
    if (typeof ResizeObserver === 'function') {
      new ResizeObserver(() => { if (this.following) this.scrollToEnd(); }).observe(list);
    }
    if (newBelow) newBelow.addEventListener('click', () => this.scrollToEnd());
  }

  atEnd() {
    const l = this.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 48;
  }

  scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
    this.following = true;
    if (this.newBelow) this.newBelow.hidden = true;
  }

  add(item) {
    this.queue.push(item);
    if (!this.timer) this.timer = setTimeout(() => this.flush(), 30);
  }

  flush() {
    this.timer = null;
    const follow = this.following;
    const frag = document.createDocumentFragment();
    const items = this.queue.splice(0, this.queue.length);
    for (const item of items.slice(-this.max)) frag.appendChild(this.render(item));
    this.list.appendChild(frag);
    while (this.list.childElementCount > this.max) {
      const first = this.list.firstElementChild;
      if (first.dataset.id) this.byId.delete(first.dataset.id);
      first.remove();
    }
    if (follow) this.scrollToEnd();
    else if (this.newBelow && items.length) this.newBelow.hidden = false;
  }

  render(m) {
    let li;
    if (m.type === 'comment') {
      li = el('li', 'item comment', null, { dataset: { testid: 'comment', id: m.id, user: m.user } });
      if (this.me && m.user === this.me) li.classList.add('mine');
      li.append(el('span', 'user', m.user), el('span', 'text', m.text));
    } else if (m.type === 'announce') {
      li = el('li', 'item announce', null, { dataset: { testid: 'announce', id: m.id } });
      li.append(el('span', 'tag', 'Announcement'), el('span', 'text', m.text));
    } else if (m.type === 'product') {
      li = el('li', 'item product', null, { dataset: { testid: 'product', id: m.id, sku: m.sku } });
      li.append(el('span', 'tag', 'Product'), el('span', 'text', m.title), el('span', 'price', formatPrice(m.price)));
    } else if (m.type === 'gap') {
      li = el('li', 'item gap', m.text || 'Some messages were skipped.', { dataset: { testid: 'gap' } });
    } else {
      li = el('li', 'item note', m.text || '', { dataset: { testid: 'note' } });
    }
    if (m.ts) li.title = new Date(m.ts).toLocaleTimeString();
    if (m.id) this.byId.set(m.id, li);
    if (this.actions && m.type === 'comment') {
      const extra = this.actions(m, li);
      if (extra) {
        li.append(extra);
        li.tabIndex = 0; // a tap focuses the item and shows its buttons
      }
    }
    return li;
  }

  remove(id) {
    const li = this.byId.get(id);
    if (li) {
      this.byId.delete(id);
      li.remove();
      return;
    }
    this.queue = this.queue.filter((m) => m.id !== id);
  }
}

// ---- leaderboards, "people are buying", lucky bags (both pages) ----

const BOARD_TITLES = { likes: 'Top fans ♥', buyers: 'Top buyers' };
const BOARD_UNITS = { likes: ['like', 'likes'], buyers: ['unit', 'units'] };

/**
 * The two leaderboards in a section: one column per board, the best 10, this user marked. On
 * phones the first 3 show until "Top 10" is tapped. Returns render(board, entries).
 */
export function makeBoards(section, { me = null, boards = ['likes', 'buyers'] } = {}) {
  const cols = new Map();
  const grid = el('div', 'boards-grid');
  for (const b of boards) {
    const col = el('div', 'board', null, { dataset: { testid: 'board', board: b } });
    const list = el('ol', 'board-list');
    const empty = el('p', 'board-empty', b === 'likes' ? 'Tap ♥ to get on this board.' : 'No buys yet.');
    col.append(el('h3', 'board-title', BOARD_TITLES[b] || b), list, empty);
    grid.append(col);
    cols.set(b, { col, list, empty });
  }
  const more = el('button', 'boards-more', 'Top 10', { type: 'button', dataset: { testid: 'boards-more' }, 'aria-expanded': 'false' });
  more.addEventListener('click', () => {
    const all = section.classList.toggle('all');
    more.textContent = all ? 'Top 3' : 'Top 10';
    more.setAttribute('aria-expanded', String(all));
  });
  section.append(grid, more);
  return function render(board, entries) {
    const c = cols.get(board);
    if (!c) return;
    // (a user whose units all came off may still be listed with 0: not a place on a board)
    const items = (entries || []).filter((e) => e.score > 0).slice(0, 10).map((e, i) => {
      const li = el('li', 'board-entry', null, {
        dataset: { testid: 'board-entry', user: e.user, score: String(e.score), rank: String(i + 1) },
      });
      if (me && e.user === me) li.classList.add('mine');
      const [one, many] = BOARD_UNITS[board] || ['', ''];
      const score = el('span', 'score', formatCount(e.score));
      score.title = `${e.score.toLocaleString('en-US')} ${e.score === 1 ? one : many}`;
      li.append(el('span', 'rank', String(i + 1)), el('span', 'user', e.user), score);
      return li;
    });
    c.list.replaceChildren(...items);
    c.empty.hidden = items.length > 0;
    section.dataset[board] = String(items.length);
    more.hidden = ![...cols.values()].some((x) => x.list.childElementCount > 3) && !section.classList.contains('all');
  };
}

/**
 * "People are buying": "12 people bought in the last 10 s · ann, bob, cy" ('' when nothing
 * fresh). The count is the server's number of orders in the last 10 s (one person's two buys
 * count twice); the names are the newest buyers, at most 3.
 */
export function buyingText(b) {
  if (!b || !b.count) return '';
  const who = b.users && b.users.length ? ` · ${b.users.slice(0, 3).join(', ')}` : '';
  return `${b.count.toLocaleString('en-US')} ${b.count === 1 ? 'person' : 'people'} bought in the last 10 s${who}`;
}

/** The first and last few characters of a hash: "3f9a12…c07e". */
export function shortHash(h) {
  const s = String(h || '');
  return s.length > 16 ? `${s.slice(0, 8)}…${s.slice(-6)}` : s;
}

/**
 * The verify page's address for a drawn lucky bag, with what a page knows: the seed, the
 * commit it saw at the open, K and the winners (in the fragment: never sent to a server, and
 * no length limit of a request line). The entrant list is not known to a page: it is pasted there.
 */
export function verifyHref(info, room) {
  const q = new URLSearchParams();
  if (room) q.set('room', room);
  q.set('lottery', info.lottery);
  if (info.result && info.result.seed) q.set('seed', info.result.seed);
  if (info.commit) q.set('commit', info.commit);
  if (typeof info.winners === 'number') q.set('k', String(info.winners));
  if (info.result && typeof info.result.entries === 'number') q.set('entries', String(info.result.entries));
  for (const w of (info.result && info.result.winners) || []) q.append('w', w);
  return `verify.html#${q.toString()}`;
}

/** A lucky bag's phase as a page shows it: open, drawing (time is up, no result yet), drawn, ended. */
export function lotteryPhase(client, info) {
  if (!info) return null;
  if (info.state === 'drawn') return 'drawn';
  if (info.state === 'ended') return 'ended';
  if (typeof info.ends === 'number' && client.msUntil(info.ends) <= 0) return 'drawing';
  return 'open';
}

/** The winners of a drawn lucky bag as list items (the first `max`, then "+N more"). */
export function winnerItems(winners, me = null, max = 20) {
  const items = winners.slice(0, max).map((u, i) => {
    const li = el('li', 'lottery-winner', null, { dataset: { testid: 'lottery-winner', user: u, rank: String(i + 1) } });
    if (me && u === me) li.classList.add('mine');
    li.append(el('span', 'user', u));
    return li;
  });
  if (winners.length > max) items.push(el('li', 'more', `+${(winners.length - max).toLocaleString('en-US')} more`));
  return items;
}

/**
 * How many entered a lucky bag, as far as a page can tell, or null: the server's count at a
 * welcome or at the draw, or (for a bag with a keyword whose open the page saw) the authors of
 * keyword comments since; entries by lottery_enter are not broadcast.
 */
export function entriesKnown(l) {
  if (!l || typeof l.entries !== 'number') return null;
  if (l.state === 'drawn' || l.entriesAt || (l.seen && l.keyword)) return l.entries;
  return null;
}
