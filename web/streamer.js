/*
 * The streamer console: GET /streamer.html?room=R&user=U[&token=T]
 * Opens and closes flash sales (optionally with a checkout: pay_s) and group-buys; drops
 * coupons and follows how many were claimed and used; opens lucky bags and follows them to the
 * draw; live viewers, likes, units sold per second, stock left, the funnel and its charts
 * (dashboard.js, from the server's `stats`), the leaderboards, and the room's comments (with
 * delete and mute).
 */
import { LivecartClient, byteLength } from './livecart.js';
import { makeDashboard } from './dashboard.js';
import {
  teamsText, openPage, el, byTestId, setCount, bindStatus, makeToast,
  ERROR_TEXT, CommentList, formatPrice, discountText, couponTerms, formatCountdown,
  makeBoards, buyingText, shortHash, verifyHref, lotteryPhase, winnerItems,
} from './ui.js';

const SKU_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** "12.99" -> 1299 cents, or NaN. */
export function parsePrice(text) {
  const m = /^\s*(\d{1,10})(?:[.,](\d{1,2}))?\s*$/.exec(String(text));
  if (!m) return NaN;
  return Number(m[1]) * 100 + (m[2] ? Number(m[2].padEnd(2, '0')) : 0);
}

function intIn(v, lo, hi) {
  const n = Number(v);
  return Number.isInteger(n) && n >= lo && n <= hi ? n : NaN;
}

function main() {
  const params = openPage('streamer · livecart');
  if (!params) return;
  const app = document.getElementById('app');

  let token = params.token || '';
  const client = new LivecartClient({
    room: params.room, user: params.user, role: 'streamer', token: () => token || undefined,
  });
  globalThis.livecart = client;

  const toast = makeToast(document.getElementById('toast'));
  bindStatus(client, byTestId('status'));

  // ---- token ----
  const tokenForm = document.getElementById('token-form');
  tokenForm.elements.namedItem('token').value = token;
  tokenForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = tokenForm.elements.namedItem('token').value.trim();
    client.reconnect();
  });

  // ---- comments, with moderation ----
  const comments = new CommentList(byTestId('comments'), {
    me: params.user,
    newBelow: app.querySelector('.chat .new-below'),
    actions: (m) => {
      if (m.user === params.user) return null;
      const box = el('span', 'mod');
      const del = el('button', 'mod-btn', 'Delete', { type: 'button', dataset: { testid: 'comment-delete' }, 'aria-label': `Delete comment by ${m.user}` });
      del.addEventListener('click', () => client.send({ type: 'delete', id: m.id }));
      const mute = el('button', 'mod-btn', 'Mute 5 min', { type: 'button', dataset: { testid: 'comment-mute' }, 'aria-label': `Mute ${m.user} for five minutes` });
      mute.addEventListener('click', () => {
        if (client.send({ type: 'mute', user: m.user, secs: 300 })) toast(`${m.user} is muted for 5 minutes.`);
      });
      box.append(del, mute);
      return box;
    },
  });
  for (const type of ['comment', 'announce', 'product']) client.on(type, (m) => comments.add(m));
  client.on('deleted', (m) => comments.remove(m.id));
  client.on('gap', () => comments.add({ type: 'gap', text: 'Some messages were skipped.' }));
  client.on('error', (m) => toast(ERROR_TEXT[m.code] || m.message || m.code, 'error'));
  client.on('reconnect', () => toast('This server is restarting: moving over…'));

  const commentForm = document.getElementById('comment-form');
  const input = byTestId('comment-input');
  commentForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    if (byteLength(text) > 500) return toast('That comment is too long (500 bytes at most).', 'error');
    if (!client.comment(text)) return toast('Not connected: your comment was not sent.', 'error');
    input.value = '';
  });

  // ---- numbers ----
  client.on('viewers', (m) => setCount(byTestId('viewers'), m.count));
  client.on('likes', (m) => setCount(byTestId('likes'), m.total));
  client.on('welcome', (m) => {
    setCount(byTestId('viewers'), m.viewers);
    setCount(byTestId('likes'), m.likes);
  });
  const rateNode = byTestId('orders-rate');
  function renderRate() {
    const r = client.soldPerSecond(5000);
    const v = r.toFixed(1);
    if (rateNode.dataset.value !== v) {
      rateNode.dataset.value = v;
      rateNode.textContent = v;
    }
  }
  setInterval(renderRate, 500);

  // ---- the funnel: every 5 s the server sends streamers `stats` (none from an older server:
  // the panel keeps saying it is waiting) ----
  const dashboard = makeDashboard(byTestId('funnel'));
  client.on('stats', (m) => dashboard.render(m));
  globalThis.__lcDashboard = dashboard;

  // ---- the sale form ----
  const form = document.getElementById('sale-form');
  const err = byTestId('sale-error');
  const field = (n) => form.elements.namedItem(n);
  function kind() {
    return form.querySelector('input[name="kind"]:checked').value;
  }
  function syncKind() {
    const group = kind() === 'group';
    for (const n of form.querySelectorAll('.only-group')) n.hidden = !group;
    for (const n of form.querySelectorAll('.only-sale')) n.hidden = group;
    byTestId('sale-open').textContent = group ? 'Open group buy' : 'Open sale';
  }
  for (const r of form.querySelectorAll('input[name="kind"]')) r.addEventListener('change', syncKind);
  syncKind();

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    const sku = field('sku').value.trim();
    const title = field('title').value.trim();
    const price = parsePrice(field('price').value);
    const stock = intIn(field('stock').value, 1, 1e9);
    const problems = [];
    if (!SKU_RE.test(sku)) problems.push('SKU: 1-64 letters, digits, _ or -');
    if (!title || byteLength(title) > 200) problems.push('Title: 1-200 bytes');
    if (!Number.isFinite(price) || price > 1e12) problems.push('Price: like 12.99');
    if (Number.isNaN(stock)) problems.push('Stock: a whole number ≥ 1');
    let frame;
    if (kind() === 'group') {
      const size = intIn(field('size').value, 2, 100);
      const ttl = intIn(field('ttl_s').value, 5, 86400);
      if (Number.isNaN(size)) problems.push('Team size: 2-100');
      if (Number.isNaN(ttl)) problems.push('Team time: 5-86400 s');
      frame = { sku, title, price, stock, size, ttl_s: ttl };
    } else {
      const limit = intIn(field('limit').value || '1', 1, 1e9);
      if (Number.isNaN(limit)) problems.push('Limit: a whole number ≥ 1');
      frame = { sku, title, price, stock, limit };
      const payText = field('pay_s').value.trim();
      if (payText) {
        const payS = intIn(payText, 30, 3600);
        if (Number.isNaN(payS)) problems.push('Pay within: 30-3600 s, or empty');
        else frame.pay_s = payS;
      }
    }
    if (problems.length) {
      err.textContent = problems.join(' · ');
      return;
    }
    const button = byTestId('sale-open');
    button.disabled = true;
    try {
      await (kind() === 'group' ? client.openGroup(frame) : client.openSale(frame));
      toast(`${title} is on sale.`);
      field('sku').value = '';
    } catch (e) {
      err.textContent = e.code === 'bad_request' ? `Not opened: ${e.message}` : ERROR_TEXT[e.code] || e.message;
    } finally {
      button.disabled = false;
    }
  });

  // ---- open sales ----
  const list = document.getElementById('open-sales');
  const rows = new Map();
  function renderStockLeft() {
    let left = 0;
    for (const s of client.sales.values()) left += s.left;
    const node = byTestId('stock-left');
    node.dataset.value = String(left);
    node.textContent = client.sales.size ? left.toLocaleString('en-US') : '–';
    document.getElementById('no-sales').hidden = client.sales.size > 0;
  }
  function renderRow(sku, sale) {
    let r = rows.get(sku);
    if (!sale) {
      if (r) r.li.remove();
      rows.delete(sku);
      renderStockLeft();
      return;
    }
    if (!r) {
      const li = el('li', 'open-sale', null, { dataset: { testid: 'open-sale', sku } });
      const name = el('div', 'name');
      const title = el('strong');
      const info = el('span', 'info');
      name.append(title, info);
      const bar = el('div', 'stock-bar');
      const fillBar = el('div', 'stock-fill');
      bar.append(fillBar);
      const stock = el('span', 'stock-text', null, { dataset: { testid: 'stock', sku } });
      const teams = el('span', 'teams');
      const close = el('button', 'danger', 'Close', { type: 'button', dataset: { testid: 'sale-close', sku } });
      close.addEventListener('click', async () => {
        close.disabled = true;
        try {
          await client.closeSale(sku);
        } catch (e) {
          toast(ERROR_TEXT[e.code] || e.message, 'error');
          close.disabled = false;
        }
      });
      li.append(name, bar, stock, teams, close);
      list.prepend(li);
      r = { li, title, info, fillBar, stock, teams };
      rows.set(sku, r);
    }
    r.title.textContent = sale.title;
    r.info.textContent = `${sku} · ${formatPrice(sale.price)} · ${sale.kind === 'group' ? `teams of ${sale.size}` : `limit ${sale.limit}`}${sale.payS ? ` · pay within ${formatCountdown(sale.payS * 1000)}` : ''}`;
    r.fillBar.style.width = `${sale.stock > 0 ? Math.min(100, (100 * sale.left) / sale.stock) : 0}%`;
    r.stock.dataset.left = String(sale.left);
    r.stock.textContent = sale.left > 0 ? `${sale.left.toLocaleString('en-US')} / ${sale.stock.toLocaleString('en-US')} left` : 'Sold out';
    r.teams.textContent = sale.kind === 'group' ? teamsText(sale) || 'no team yet' : '';
    r.li.classList.toggle('sold-out', sale.soldOut);
    renderStockLeft();
  }
  client.on('sales', ({ sku, sale }) => {
    renderRow(sku, sale);
    renderRate();
  });
  renderStockLeft();

  // ---- coupon drops ----
  const cform = document.getElementById('coupon-form');
  const cerr = byTestId('coupon-error');
  const cfield = (n) => cform.elements.namedItem(n);
  function ckind() {
    return cform.querySelector('input[name="ckind"]:checked').value;
  }
  function syncCkind() {
    const pct = ckind() === 'pct';
    for (const n of cform.querySelectorAll('.only-pct')) n.hidden = !pct;
    for (const n of cform.querySelectorAll('.only-off')) n.hidden = pct;
  }
  for (const r of cform.querySelectorAll('input[name="ckind"]')) r.addEventListener('change', syncCkind);
  syncCkind();

  cform.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    cerr.textContent = '';
    const coupon = cfield('coupon').value.trim();
    const title = cfield('title').value.trim();
    const quota = intIn(cfield('quota').value, 1, 1e6);
    const perUser = intIn(cfield('per_user').value || '1', 1, 100);
    const secs = intIn(cfield('secs').value, 5, 3600);
    const sku = cfield('sku').value.trim();
    const minText = cfield('min_price').value.trim();
    const problems = [];
    if (!SKU_RE.test(coupon)) problems.push('Coupon id: 1-64 letters, digits, _ or -');
    if (!title || byteLength(title) > 200) problems.push('Title: 1-200 bytes');
    const frame = { coupon, title, quota, per_user: perUser, secs };
    if (ckind() === 'pct') {
      const pct = intIn(cfield('pct').value, 1, 90);
      if (Number.isNaN(pct)) problems.push('Percent off: 1-90');
      frame.pct = pct;
    } else {
      const off = parsePrice(cfield('off').value);
      if (!Number.isFinite(off) || off < 1 || off > 1e12) problems.push('Off: an amount like 5.00');
      frame.off = off;
    }
    if (Number.isNaN(quota)) problems.push('Quota: 1-1000000');
    if (Number.isNaN(perUser)) problems.push('Per person: 1-100');
    if (Number.isNaN(secs)) problems.push('Claim window: 5-3600 s');
    if (sku) {
      if (!SKU_RE.test(sku)) problems.push('SKU: 1-64 letters, digits, _ or -');
      frame.sku = sku;
    }
    if (minText) {
      const min = parsePrice(minText);
      if (!Number.isFinite(min) || min > 1e12) problems.push('Minimum price: like 10.00, or empty');
      frame.min_price = min;
    }
    if (problems.length) {
      cerr.textContent = problems.join(' · ');
      return;
    }
    const button = byTestId('coupon-drop');
    button.disabled = true;
    try {
      await client.dropCoupon(frame);
      toast(`${frame.quota} × “${title}” dropped.`);
      cfield('coupon').value = '';
    } catch (e) {
      cerr.textContent = e.code === 'bad_request' ? `Not dropped: ${e.message}` : ERROR_TEXT[e.code] || e.message;
    } finally {
      button.disabled = false;
    }
  });

  // ---- the room's coupons: claimed (quota - left) and used in buys ----
  const couponList = document.getElementById('coupon-rows');
  const couponRows = new Map();
  function couponState(c) {
    if (c.left === 0) return 'gone';
    if (c.gone || client.msUntil(c.ends) <= 0) return 'closed';
    return 'open';
  }
  function renderCouponWhen(r, c, state) {
    r.when.textContent = state === 'gone' ? 'all claimed' : state === 'closed' ? 'claim window over'
      : `claimable for ${formatCountdown(client.msUntil(c.ends))}`;
  }
  function renderCouponRow(id) {
    const c = client.coupons.get(id);
    let r = couponRows.get(id);
    if (!c) {
      if (r) r.li.remove();
      couponRows.delete(id);
    } else {
      if (!r) {
        const li = el('li', 'coupon-row', null, { dataset: { testid: 'coupon-row', coupon: id } });
        const name = el('div', 'name');
        const title = el('strong');
        const info = el('span', 'info');
        name.append(title, info);
        const counts = el('div', 'counts');
        const claimed = el('b', null, '0', { dataset: { testid: 'coupon-claimed', value: '0' } });
        const used = el('b', null, '0', { dataset: { testid: 'coupon-used', value: '0' } });
        const claimedBox = el('span', null, null);
        claimedBox.append(claimed, document.createTextNode(' claimed'));
        const usedBox = el('span', null, null);
        usedBox.append(used, document.createTextNode(' used'));
        counts.append(claimedBox, usedBox);
        const when = el('span', 'when', null, { dataset: { testid: 'coupon-when' } });
        li.append(name, counts, when);
        couponList.prepend(li);
        r = { li, title, info, claimed, used, when };
        couponRows.set(id, r);
      }
      const state = couponState(c);
      r.li.dataset.state = state;
      r.title.textContent = c.title || id;
      const terms = couponTerms(c, (sku) => (client.sales.get(sku) || {}).title || sku);
      r.info.textContent = `${id} · ${discountText(c)} · ${c.quota.toLocaleString('en-US')} × ${c.per_user} per person${terms ? ` · ${terms}` : ''}`;
      const nClaimed = Math.max(0, c.quota - c.left);
      r.claimed.dataset.value = String(nClaimed);
      r.claimed.textContent = `${nClaimed.toLocaleString('en-US')} / ${c.quota.toLocaleString('en-US')}`;
      r.used.dataset.value = String(c.used || 0);
      r.used.textContent = (c.used || 0).toLocaleString('en-US');
      renderCouponWhen(r, c, state);
    }
    document.getElementById('no-coupons').hidden = couponRows.size > 0;
  }
  client.on('coupons', ({ coupon }) => renderCouponRow(coupon));
  setInterval(() => {
    for (const [id, r] of couponRows) {
      const c = client.coupons.get(id);
      if (!c) continue;
      const state = couponState(c);
      if (r.li.dataset.state !== state) renderCouponRow(id);
      else renderCouponWhen(r, c, state);
    }
  }, 500);


  // ---- lucky bags: open one, follow it to its draw ----
  const lform = document.getElementById('lottery-form');
  const lerr = byTestId('lottery-error');
  const lfield = (n) => lform.elements.namedItem(n);
  const suggestId = () => `bag-${new Date().toISOString().slice(5, 16).replace(/[-:T]/g, '')}`;
  lfield('lottery').value = suggestId();
  lform.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    lerr.textContent = '';
    const lottery = lfield('lottery').value.trim();
    const prize = lfield('prize').value.trim();
    const winners = intIn(lfield('winners').value, 1, 1000);
    const secs = intIn(lfield('secs').value, 10, 3600);
    const keyword = lfield('keyword').value.trim();
    const problems = [];
    if (!SKU_RE.test(lottery)) problems.push('Id: 1-64 letters, digits, _ or -');
    if (!prize || byteLength(prize) > 200) problems.push('Prize: 1-200 bytes');
    if (Number.isNaN(winners)) problems.push('Winners: 1-1000');
    if (Number.isNaN(secs)) problems.push('Draw in: 10-3600 s');
    if (keyword && byteLength(keyword) > 50) problems.push('Keyword: at most 50 bytes');
    if (problems.length) {
      lerr.textContent = problems.join(' · ');
      return;
    }
    const button = byTestId('lottery-open');
    button.disabled = true;
    try {
      await client.openLottery({ lottery, prize, winners, secs, keyword: keyword || undefined });
      toast(keyword ? `Lucky bag open: comment “${keyword}” to enter.` : 'Lucky bag open: viewers tap Enter.');
      lfield('lottery').value = suggestId();
    } catch (e) {
      lerr.textContent = e.code === 'bad_request' ? `Not opened: ${e.message}` : ERROR_TEXT[e.code] || e.message;
    } finally {
      button.disabled = false;
    }
  });

  const lotteryList = document.getElementById('lottery-rows');
  const lotteryRows = new Map();
  function renderLotteryClock(r, l, phase) {
    const ms = typeof l.ends === 'number' ? client.msUntil(l.ends) : 0;
    r.countdown.dataset.seconds = String(Math.max(0, Math.ceil(ms / 1000)));
    r.countdown.textContent = phase === 'open' ? `draw in ${formatCountdown(ms)}` : phase === 'drawing' ? 'drawing…'
      : phase === 'ended' ? 'drawn while this console was away' : 'drawn';
  }
  function renderLotteryRow(id) {
    const l = client.lotteries.get(id);
    if (!l) return;
    let r = lotteryRows.get(id);
    if (!r) {
      const li = el('li', 'lottery-row', null, { dataset: { testid: 'lottery-row', lottery: id } });
      const name = el('div', 'name');
      const title = el('strong');
      const info = el('span', 'info');
      name.append(title, info);
      const entriesBox = el('span', 'entries');
      const entries = el('b', null, '–', { dataset: { testid: 'lottery-entries' } });
      const entriesNote = el('span', 'note');
      entriesBox.append(entries, entriesNote);
      const countdown = el('span', 'when', null, { dataset: { testid: 'lottery-countdown' } });
      const result = el('div', 'lottery-result', null, { dataset: { testid: 'lottery-result' } });
      const resultHead = el('p', 'result-head');
      const winners = el('ol', 'lottery-winners', null, { dataset: { testid: 'lottery-winners' } });
      const verify = el('a', 'lottery-verify', 'Verify the draw', { dataset: { testid: 'lottery-verify' }, target: '_blank', rel: 'noopener' });
      result.append(resultHead, winners, verify);
      const commit = el('span', 'lottery-commit', null, { dataset: { testid: 'lottery-commit' } });
      li.append(name, entriesBox, countdown, commit, result);
      lotteryList.prepend(li);
      r = { li, title, info, entries, entriesNote, countdown, result, resultHead, winners, verify, commit };
      lotteryRows.set(id, r);
    }
    const phase = lotteryPhase(client, l);
    r.li.dataset.state = phase;
    r.title.textContent = l.prize || id;
    const k = typeof l.winners === 'number' ? `${l.winners} winner${l.winners === 1 ? '' : 's'}` : '';
    r.info.textContent = [id, k, l.keyword ? `keyword “${l.keyword}”` : 'tap to enter'].filter(Boolean).join(' · ');
    // entries: the server says how many at a welcome and at the draw; in between, a console that
    // saw the open counts the keyword comments it sees (lottery_enter entries are not broadcast)
    let n = typeof l.entries === 'number' ? l.entries : null;
    let note = ' entries';
    if (phase !== 'drawn') {
      if (l.seen && l.keyword) note = ' entries so far';
      else if (l.entriesAt && n !== null) note = ' entries when this console joined';
      else {
        n = null;
        note = ' entries: told at the draw';
      }
    }
    r.entries.dataset.value = n === null ? '' : String(n);
    r.entries.textContent = n === null ? '–' : n.toLocaleString('en-US');
    r.entriesNote.textContent = note;
    renderLotteryClock(r, l, phase);
    r.commit.textContent = l.commit ? `commit ${shortHash(l.commit)}` : '';
    r.commit.title = l.commit || '';
    r.result.hidden = !l.result;
    if (l.result) {
      const w = l.result.winners;
      r.resultHead.textContent = w.length ? 'Winners, in draw order:' : 'Nobody entered: no winner.';
      r.winners.replaceChildren(...winnerItems(w, null, 50));
      r.verify.href = verifyHref(l, params.room);
      r.verify.hidden = !l.result.seed;
    }
    document.getElementById('no-lotteries').hidden = lotteryRows.size > 0;
  }
  client.on('lotteries', ({ lottery }) => renderLotteryRow(lottery));
  setInterval(() => {
    for (const [id, r] of lotteryRows) {
      const l = client.lotteries.get(id);
      if (!l) continue;
      const phase = lotteryPhase(client, l);
      if (r.li.dataset.state !== phase) renderLotteryRow(id);
      else renderLotteryClock(r, l, phase);
    }
  }, 250);

  // ---- leaderboards and "people are buying" ----
  const renderBoard = makeBoards(byTestId('boards'));
  for (const [b, entries] of client.boards) renderBoard(b, entries);
  client.on('boards', ({ board, entries }) => renderBoard(board, entries));
  const buyingLine = byTestId('buying');
  function renderBuying() {
    const b = client.buyingNow();
    const text = buyingText(b) || 'Nobody bought in the last 10 s.';
    if (buyingLine.textContent !== text) buyingLine.textContent = text;
    buyingLine.dataset.count = String(b ? b.count : 0);
  }
  client.on('buying', renderBuying);
  setInterval(renderBuying, 500);
  renderBuying();

  client.connect();
}

if (globalThis.document) main();
