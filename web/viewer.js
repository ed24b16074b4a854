/*
 * The viewer page: GET /?room=R&user=U[&token=T][&team=TEAM]
 * Comments, likes, viewers, the open sales with a live stock bar, Buy and group-buy joins,
 * coupon drops to claim (and redeem in a buy), reserved orders with their pay-by countdown,
 * the lucky bag (enter, the draw's result, a link to verify it), the leaderboards and the
 * "people are buying" ticker.
 */
import { LivecartClient, byteLength, couponPrice } from './livecart.js';
import {
  openPage, el, byTestId, setCount, bindStatus, makeToast,
  ERROR_TEXT, CommentList, formatPrice, teamsText, discountText, couponTerms, formatCountdown,
  makeBoards, buyingText, shortHash, verifyHref, lotteryPhase, winnerItems, entriesKnown,
} from './ui.js';

const ORDER_TEXT = {
  ok: 'Bought! Order %o',
  reserved: 'Reserved for you! Pay by %t to get order %o.',
  coupon_invalid: 'That coupon cannot be used for this buy: nothing was bought.',
  sold_out: 'Sold out: too late this time.',
  limit: 'Limit reached: at most %l per person.',
  closed: 'This sale has ended.',
  invalid: 'That did not work (invalid request).',
  rate_limited: 'Too many taps: try again in a moment.',
  unavailable: 'The shop is busy: please try again.',
  unknown: 'We could not confirm this order yet: it may have gone through. Tap again to check (you will not be charged twice).',
  timeout: 'No answer yet: check your connection.',
  offline: 'Not connected.',
};

const CLAIM_TEXT = {
  ok: 'Claimed! Pick it when you buy.',
  gone: 'All claimed: too late this time.',
  limit: 'You have claimed as many as you may.',
  closed: 'This coupon drop has ended.',
  invalid: 'That did not work (invalid request).',
  req_reused: 'That did not work: tap again.',
  rate_limited: 'Too many taps: try again in a moment.',
  unavailable: 'The shop is busy: please try again.',
  unknown: 'We could not confirm this yet: tap again to check (you never get one twice).',
  timeout: 'No answer yet: check your connection.',
  offline: 'Not connected.',
};

const ORDER_STATE_TEXT = {
  reserved: 'Reserved: pay within',
  overdue: 'Payment time is over…',
  paid: 'Paid. Thank you!',
  expired: 'Not paid in time: the reservation expired.',
  cancelled: 'Cancelled.',
  ok: 'Bought.',
};

const PAY_TEXT = {
  200: 'Payment confirmed.',
  409: 'Too late to pay: %s.',
  503: 'The shop is busy: nothing was charged, try again.',
  504: 'No confirmation yet: it may have gone through. Tap Pay again to check.',
  offline: 'Not connected: try again.',
  off: 'Payment happens in the shop app (this server takes no demo payments).',
};

const GROUP_TEXT = {
  joined: 'You joined a team: %m of %s.',
  already: 'You are in a team already: %m of %s.',
  sold_out: 'Not enough left for another team.',
  closed: 'This group-buy has ended.',
  not_found: 'That team is no longer open.',
  invalid: 'That did not work (invalid request).',
  rate_limited: 'Too many taps: try again in a moment.',
  unavailable: 'The shop is busy: please try again.',
  unknown: 'We could not confirm this yet: it may have gone through. Tap again to check.',
  timeout: 'No answer yet: check your connection.',
};

const ENTER_TEXT = {
  ok: 'You’re in! Good luck.',
  already: 'You’re in already.',
  closed: 'Too late: this lucky bag is closed.',
  keyword: 'Comment the keyword to enter.',
  muted: 'You are muted for now: you cannot enter.',
  banned: 'You were removed from this room.',
  rate_limited: 'Too many taps: try again in a moment.',
  unavailable: 'The server is busy: please try again.',
  unknown: 'No confirmation yet: tap again to check (you never enter twice).',
  timeout: 'No answer yet: check your connection.',
  offline: 'Not connected.',
};

function fill(tpl, vals) {
  return tpl.replace(/%([a-z])/g, (_, k) => (vals[k] !== undefined ? String(vals[k]) : ''));
}

function shortId(id) {
  return String(id || '').slice(-8);
}

function main() {
  const params = openPage('livecart');
  if (!params) return;
  const app = document.getElementById('app');

  const client = new LivecartClient({ room: params.room, user: params.user, token: params.token });
  globalThis.livecart = client; // for the console and for tests

  const toast = makeToast(document.getElementById('toast'));
  bindStatus(client, byTestId('status'));
  const comments = new CommentList(byTestId('comments'), {
    me: params.user,
    newBelow: app.querySelector('.new-below'),
  });

  // ---- the room's stream ----
  for (const type of ['comment', 'announce', 'product']) client.on(type, (m) => comments.add(m));
  client.on('deleted', (m) => comments.remove(m.id));
  client.on('gap', () => comments.add({ type: 'gap', text: 'You missed some messages while away.' }));
  client.on('viewers', (m) => setCount(byTestId('viewers'), m.count));
  client.on('likes', () => setCount(byTestId('likes'), client.likesShown));
  let welcomes = 0;
  client.on('welcome', (m) => {
    // this viewer's coupons: on the first visit, and after a reconnect when coupons are about
    if (!welcomes++ || client.myCoupons.size || (m.coupons && m.coupons.length)) client.fetchMyCoupons().catch(() => {});
    setCount(byTestId('viewers'), m.viewers);
    setCount(byTestId('likes'), client.likesShown);
    setSlowMode(m.slow_mode || client.slowMode);
  });
  client.on('slow_mode', (m) => {
    setSlowMode(m.secs);
    toast(m.secs ? `Slow mode: one comment every ${m.secs} s.` : 'Slow mode is off.');
  });
  client.on('reconnect', () => toast('This server is restarting: moving you over…'));
  client.on('error', (m) => toast(ERROR_TEXT[m.code] || m.message || m.code, 'error'));

  // ---- comments ----
  const form = document.getElementById('comment-form');
  const input = byTestId('comment-input');
  function setSlowMode(secs) {
    input.placeholder = secs ? `Slow mode: one comment every ${secs} s` : 'Say something…';
  }
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    if (byteLength(text) > 500) {
      toast('That comment is too long (500 bytes at most).', 'error');
      return;
    }
    if (!client.comment(text)) {
      toast('Not connected: your comment was not sent.', 'error');
      return;
    }
    input.value = '';
    input.focus();
  });

  // ---- likes ----
  const likeButton = byTestId('like-button');
  const hearts = app.querySelector('.hearts');
  likeButton.addEventListener('click', () => {
    client.like(1);
    setCount(byTestId('likes'), client.likesShown);
    if (hearts.childElementCount < 12) {
      const h = el('span', 'float-heart', '♥');
      h.style.setProperty('--drift', `${Math.round(Math.random() * 60 - 30)}px`);
      h.addEventListener('animationend', () => h.remove());
      hearts.append(h);
    }
  });

  // ---- sales ----
  const salesBox = document.getElementById('sales');
  const cards = new Map(); // sku -> {card, refs}
  const outcome = new Map(); // sku -> {text, status}: the last result of this viewer's action
  // group-buy: this viewer's team per sku (the protocol tells members nothing until the team
  // fills or fails, so the count is the one from joining)
  const myTeams = new Map();

  function setOutcome(sku, status, text) {
    outcome.set(sku, { status, text });
    const c = cards.get(sku);
    if (c) {
      c.refs.status.textContent = text;
      c.refs.status.dataset.status = status;
    }
  }

  function makeCard(sale) {
    const card = el('article', `sale-card kind-${sale.kind}`, null, { dataset: { testid: 'sale', sku: sale.sku, kind: sale.kind } });
    const head = el('div', 'sale-head');
    const badge = el('span', 'badge', sale.kind === 'group' ? `Group buy · teams of ${sale.size}` : 'Flash sale');
    const title = el('h2', 'sale-title', sale.title, { dataset: { testid: 'sale-name' } });
    head.append(badge, title);
    const price = el('div', 'sale-price', formatPrice(sale.price), { dataset: { testid: 'sale-price' } });
    const stockRow = el('div', 'stock-row');
    const bar = el('div', 'stock-bar', null, { role: 'progressbar', 'aria-label': 'stock left', 'aria-valuemin': '0' });
    const fillBar = el('div', 'stock-fill');
    bar.append(fillBar);
    const stock = el('span', 'stock-text', null, { dataset: { testid: 'stock' } });
    stockRow.append(bar, stock);
    const action = el('button', 'buy primary', null, { type: 'button', dataset: { testid: sale.kind === 'group' ? 'group-join' : 'buy' } });
    const status = el('p', 'order-status', null, { role: 'status', dataset: { testid: 'order-status' } });
    card.append(head, price, stockRow);
    const refs = { title, price, bar, fillBar, stock, action, status, badge, pending: false };
    if (sale.kind !== 'group') {
      // this viewer's claimed coupons that apply: pick one (or none) for the next buy
      const pick = el('label', 'coupon-pick');
      pick.append(el('span', 'sr-only', 'Coupon'));
      const select = el('select', null, null, { dataset: { testid: 'coupon-select' } });
      select.addEventListener('change', () => {
        couponChoice.set(sale.sku, select.value);
        renderSale(sale.sku, client.sales.get(sale.sku));
      });
      pick.append(select);
      card.append(pick);
      Object.assign(refs, { pick, select });
    }
    if (sale.kind === 'group') {
      const team = el('div', 'team', null, { dataset: { testid: 'team-progress' } });
      const teamBar = el('div', 'team-bar');
      const teamFill = el('div', 'team-fill');
      teamBar.append(teamFill);
      const teamText = el('span', 'team-text');
      team.append(teamBar, teamText);
      const teams = el('p', 'teams', null, { dataset: { testid: 'teams' } });
      card.append(teams, team);
      Object.assign(refs, { team, teamFill, teamText, teams });
    }
    card.append(action, status);
    action.addEventListener('click', () => (sale.kind === 'group' ? joinGroup(sale.sku) : buy(sale.sku)));
    const prev = outcome.get(sale.sku);
    if (prev) {
      status.textContent = prev.text;
      status.dataset.status = prev.status;
    }
    return { card, refs };
  }

  function renderSale(sku, sale) {
    let c = cards.get(sku);
    if (!sale) {
      if (c) {
        c.card.remove();
        cards.delete(sku);
      }
      return;
    }
    if (c && c.card.dataset.kind !== sale.kind) {
      c.card.remove();
      c = null;
    }
    if (!c) {
      c = makeCard(sale);
      cards.set(sku, c);
      salesBox.prepend(c.card); // the newest sale first
    }
    const r = c.refs;
    r.title.textContent = sale.title;
    if (sale.kind === 'group') {
      r.price.textContent = formatPrice(sale.price);
    } else {
      r.badge.textContent = sale.payS ? `Flash sale · pay within ${formatCountdown(sale.payS * 1000)}` : 'Flash sale';
      renderPicker(sale, r);
    }
    const pct = sale.stock > 0 ? Math.max(0, Math.min(100, (100 * sale.left) / sale.stock)) : 0;
    r.fillBar.style.width = `${pct}%`;
    r.bar.setAttribute('aria-valuemax', String(sale.stock));
    r.bar.setAttribute('aria-valuenow', String(sale.left));
    r.stock.dataset.left = String(sale.left);
    r.stock.textContent = sale.left > 0 ? `${sale.left.toLocaleString('en-US')} left` : 'Sold out';
    c.card.classList.toggle('low', sale.left > 0 && sale.left <= Math.max(1, sale.stock * 0.1));
    c.card.classList.toggle('sold-out', sale.soldOut);
    if (sale.kind === 'group') {
      r.teams.textContent = teamsText(sale) || 'No team yet: start one!';
      const t = myTeams.get(sku);
      r.team.hidden = !t;
      if (t) {
        r.teamFill.style.width = `${Math.min(100, (100 * t.members) / t.size)}%`;
        r.teamText.textContent = t.done ? 'Team complete!' : `Your team: ${t.members} / ${t.size}`;
      }
      r.action.textContent = r.pending ? 'Joining…' : t && !t.done ? 'In a team' : sale.soldOut ? 'Sold out' : 'Join a team';
      r.action.disabled = r.pending || sale.soldOut || !!(t && !t.done);
    } else {
      r.action.textContent = r.pending ? 'Buying…' : sale.soldOut ? 'Sold out' : 'Buy now';
      r.action.disabled = r.pending || sale.soldOut;
    }
  }

  client.on('sales', ({ sku, sale }) => renderSale(sku, sale));

  // ---- coupons: which one the next buy of a sale redeems ----
  const couponChoice = new Map(); // sku -> coupon id, or '' for none (absent: the best one)

  function chosenCoupon(sku) {
    const sale = client.sales.get(sku);
    if (!sale || sale.kind === 'group') return '';
    const usable = client.usableCoupons(sku, sale.price);
    const want = couponChoice.get(sku);
    if (want === '') return '';
    if (want && usable.some((c) => c.coupon === want)) return want;
    return usable.length ? usable[0].coupon : '';
  }

  function renderPicker(sale, r) {
    const usable = client.usableCoupons(sale.sku, sale.price);
    const chosen = chosenCoupon(sale.sku);
    const want = [['', 'No coupon'], ...usable.map((c) => [c.coupon,
      `${c.title || c.coupon}: ${discountText(c)} → ${formatPrice(couponPrice(c, sale.price))}`])];
    const have = Array.from(r.select.options, (o) => [o.value, o.textContent]);
    if (JSON.stringify(have) !== JSON.stringify(want)) {
      r.select.replaceChildren(...want.map(([v, t]) => el('option', null, t, { value: v })));
    }
    r.select.value = chosen;
    r.pick.hidden = usable.length === 0;
    const c = chosen ? client.myCoupons.get(chosen) : null;
    r.price.replaceChildren();
    if (c) {
      r.price.append(el('span', 'now', formatPrice(couponPrice(c, sale.price))), el('s', 'was', formatPrice(sale.price)));
      r.price.dataset.coupon = chosen;
    } else {
      r.price.textContent = formatPrice(sale.price);
      delete r.price.dataset.coupon;
    }
  }

  function renderAllSales() {
    for (const [sku, sale] of client.sales) renderSale(sku, sale);
  }

  // ---- coupon drops ----
  const couponBox = document.getElementById('coupons');
  const couponCards = new Map(); // coupon id -> {card, refs}
  const claimOutcome = new Map(); // coupon id -> {status, text}

  function couponState(info) {
    const held = client.myCoupons.get(info.coupon);
    const n = held ? held.claimed || 0 : 0;
    if (info.gone || info.left === 0 || client.msUntil(info.ends) <= 0) {
      return info.left === 0 ? 'gone' : 'closed';
    }
    if (n >= (info.per_user || 1)) return 'claimed';
    return 'open';
  }

  function makeCouponCard(info) {
    const card = el('article', 'coupon-card', null, { dataset: { testid: 'coupon', coupon: info.coupon } });
    const value = el('div', 'coupon-value', null, { dataset: { testid: 'coupon-discount' } });
    const body = el('div', 'coupon-body');
    const title = el('h3', 'coupon-title', null, { dataset: { testid: 'coupon-title' } });
    const terms = el('p', 'coupon-terms');
    const meta = el('p', 'coupon-meta');
    const left = el('span', 'coupon-left', null, { dataset: { testid: 'coupon-left' } });
    const countdown = el('span', 'coupon-countdown', null, { dataset: { testid: 'coupon-countdown' } });
    meta.append(left, countdown);
    body.append(title, terms, meta);
    const action = el('button', 'claim primary', 'Claim', { type: 'button', dataset: { testid: 'coupon-claim' } });
    const status = el('p', 'claim-status', null, { role: 'status', dataset: { testid: 'claim-status' } });
    card.append(value, body, action, status);
    action.addEventListener('click', () => claim(info.coupon));
    return { card, refs: { value, title, terms, left, countdown, action, status, pending: false } };
  }

  function renderCoupon(id) {
    const info = client.coupons.get(id);
    let c = couponCards.get(id);
    if (!info) {
      if (c) c.card.remove();
      couponCards.delete(id);
      return;
    }
    if (!c) {
      c = makeCouponCard(info);
      couponCards.set(id, c);
      couponBox.prepend(c.card);
    }
    const r = c.refs;
    const state = couponState(info);
    // claimable coupons first; one that can no longer be claimed moves behind them
    if ((state === 'gone' || state === 'closed') && c.card.dataset.state !== state && c.card.nextElementSibling) {
      couponBox.append(c.card);
    }
    c.card.dataset.state = state;
    r.value.textContent = discountText(info);
    r.title.textContent = info.title || id;
    r.terms.textContent = couponTerms(info, (sku) => (client.sales.get(sku) || {}).title || sku);
    r.terms.hidden = !r.terms.textContent;
    r.left.dataset.left = String(info.left);
    r.left.dataset.quota = String(info.quota);
    r.left.textContent = info.left > 0 ? `${info.left.toLocaleString('en-US')} / ${info.quota.toLocaleString('en-US')} left` : 'all claimed';
    renderCouponClock(c, info, state);
    const held = client.myCoupons.get(id);
    const n = held ? held.claimed || 0 : 0;
    r.action.textContent = r.pending ? 'Claiming…'
      : state === 'claimed' ? 'Claimed ✓'
        : state === 'gone' ? (n ? 'Claimed ✓' : 'All claimed')
          : state === 'closed' ? (n ? 'Claimed ✓' : 'Ended')
            : n ? 'Claim another' : 'Claim';
    r.action.disabled = r.pending || state !== 'open';
    const o = claimOutcome.get(id);
    r.status.textContent = o ? o.text : '';
    if (o) r.status.dataset.status = o.status;
    else delete r.status.dataset.status;
  }

  function renderCouponClock(c, info, state) {
    const ms = client.msUntil(info.ends);
    const r = c.refs;
    r.countdown.dataset.seconds = String(Math.max(0, Math.ceil(ms / 1000)));
    r.countdown.textContent = state === 'gone' ? '' : ms > 0 && !info.gone ? `ends in ${formatCountdown(ms)}` : 'ended';
  }

  async function claim(id) {
    const c = couponCards.get(id);
    if (!c || c.refs.pending) return;
    c.refs.pending = true;
    renderCoupon(id);
    let answer;
    try {
      answer = await client.claimCoupon(id);
    } catch (e) {
      answer = { status: e.code === 'timeout' ? 'timeout' : 'offline' };
    }
    claimOutcome.set(id, { status: answer.status, text: CLAIM_TEXT[answer.status] || answer.status });
    const cur = couponCards.get(id);
    if (cur) cur.refs.pending = false;
    renderCoupon(id);
  }

  const goneTimers = new Map();
  client.on('coupons', ({ coupon, info }) => {
    renderCoupon(coupon);
    // a coupon that can no longer be claimed stays a minute, greyed, then leaves the stage
    if (info && info.gone && !goneTimers.has(coupon)) {
      goneTimers.set(coupon, setTimeout(() => {
        goneTimers.delete(coupon);
        const cur = client.coupons.get(coupon);
        if (cur && cur.gone) {
          const c = couponCards.get(coupon);
          if (c) c.card.remove();
          couponCards.delete(coupon);
        }
      }, 60000));
    }
  });

  // ---- the viewer's own coupons ----
  const walletBox = byTestId('my-coupons');
  const walletList = walletBox.querySelector('ul');
  function renderWallet() {
    const items = [...client.myCoupons.values()].filter((c) => (c.claimed || 0) > 0);
    walletBox.hidden = items.length === 0;
    walletList.replaceChildren(...items.map((c) => {
      const free = Math.max(0, (c.claimed || 0) - (c.used || 0));
      const li = el('li', `my-coupon${free ? '' : ' used'}`, null, {
        dataset: { testid: 'my-coupon', coupon: c.coupon, claimed: String(c.claimed || 0), used: String(c.used || 0) },
      });
      li.append(el('strong', null, discountText(c)), el('span', null, c.title || c.coupon),
        el('span', 'count', free ? (c.claimed > 1 ? `×${free}` : '') : 'used'));
      return li;
    }));
    for (const id of couponCards.keys()) renderCoupon(id);
    renderAllSales();
  }
  client.on('wallet', renderWallet);

  // ---- this viewer's orders: reservations to pay, and how they ended ----
  const ordersBox = byTestId('orders');
  const orderRows = new Map(); // order id -> {li, refs}
  let demoPay = true; // false once the server said it takes no demo payments (404)
  const payOutcome = new Map(); // order id -> {status, text}

  function orderState(info) {
    if (info.state === 'reserved' && info.payBy && client.msUntil(info.payBy) <= 0) return 'overdue';
    return info.state;
  }

  function renderOrder(id) {
    const info = client.orders.get(id);
    // orders with a checkout: reserved ones, and how they ended (plain `ok` orders are final at
    // once and the sale card says so)
    if (!info || (!info.payBy && info.state !== 'paid' && info.state !== 'expired')) return;
    let row = orderRows.get(id);
    if (!row) {
      const li = el('li', 'order-row', null, { dataset: { testid: 'order', order: id } });
      const what = el('div', 'order-what');
      const title = el('strong', 'order-title');
      const price = el('span', 'order-price', null, { dataset: { testid: 'order-price' } });
      what.append(title, price);
      const stateLine = el('p', 'order-state', null, { role: 'status', dataset: { testid: 'order-state' } });
      const stateText = el('span');
      const countdown = el('span', 'pay-countdown', null, { dataset: { testid: 'pay-countdown' } });
      stateLine.append(stateText, countdown);
      const buttons = el('div', 'order-actions');
      const pay = el('button', 'primary pay', 'Pay', { type: 'button', dataset: { testid: 'pay' } });
      const cancel = el('button', 'order-cancel', 'Cancel', { type: 'button', dataset: { testid: 'order-cancel' } });
      buttons.append(pay, cancel);
      const status = el('p', 'pay-status', null, { role: 'status', dataset: { testid: 'pay-status' } });
      li.append(what, stateLine, buttons, status);
      pay.addEventListener('click', () => payOrder(id));
      cancel.addEventListener('click', () => cancelOrder(id));
      ordersBox.querySelector('ul').prepend(li);
      row = { li, refs: { title, price, stateText, countdown, pay, cancel, status, busy: false } };
      orderRows.set(id, row);
    }
    const r = row.refs;
    const state = orderState(info);
    row.li.dataset.state = state;
    const qty = info.qty && info.qty !== 1 ? `${info.qty} × ` : '';
    r.title.textContent = `${qty}${info.title || info.sku || 'Order'}`;
    r.price.replaceChildren();
    if (typeof info.price === 'number') {
      r.price.append(el('span', null, formatPrice(info.price)));
      if (info.coupon && typeof info.listPrice === 'number' && info.listPrice !== info.price) {
        r.price.append(el('s', 'was', formatPrice(info.listPrice)));
      }
    }
    if (info.coupon) r.price.append(el('span', 'tag', 'coupon'));
    r.stateText.textContent = ORDER_STATE_TEXT[state] || state;
    renderOrderClock(row, info, state);
    const open = state === 'reserved';
    r.pay.hidden = !demoPay || !open;
    r.pay.disabled = r.busy;
    r.pay.textContent = r.busy ? 'Paying…' : 'Pay';
    r.cancel.hidden = !open;
    r.cancel.disabled = r.busy;
    const o = payOutcome.get(id);
    r.status.textContent = o ? o.text : !demoPay && open ? PAY_TEXT.off : '';
    if (o) r.status.dataset.status = o.status;
    ordersBox.hidden = orderRows.size === 0;
  }

  function renderOrderClock(row, info, state) {
    const r = row.refs;
    if (state === 'reserved') {
      const ms = client.msUntil(info.payBy);
      r.countdown.hidden = false;
      r.countdown.dataset.seconds = String(Math.max(0, Math.ceil(ms / 1000)));
      r.countdown.textContent = formatCountdown(ms);
    } else {
      r.countdown.hidden = true;
      r.countdown.textContent = '';
    }
  }

  client.on('orders', ({ order, info }) => {
    renderOrder(order);
    if (!client.sales.has(info.sku)) return; // the sale's card is gone: the order row says it
    if (info.state === 'paid') setOutcome(info.sku, 'paid', `Paid! Order ${shortId(order)}`);
    else if (info.state === 'expired') setOutcome(info.sku, 'expired', 'Not paid in time: the reservation expired.');
    else if (info.state === 'cancelled' && info.payBy) setOutcome(info.sku, 'cancelled', 'Reservation cancelled.');
  });

  async function payOrder(id) {
    const row = orderRows.get(id);
    if (!row || row.refs.busy) return;
    row.refs.busy = true;
    renderOrder(id);
    let outcome;
    try {
      const r = await fetch(`/demo/rooms/${encodeURIComponent(params.room)}/orders/${encodeURIComponent(id)}/pay`, {
        method: 'POST', cache: 'no-store',
      });
      let body = {};
      try { body = await r.json(); } catch (_) { /* not JSON */ }
      if (r.status === 200) {
        client.applyOrderState(id, 'paid');
        outcome = { status: 'paid', text: PAY_TEXT[200] };
      } else if (r.status === 404 || r.status === 405) {
        // no demo shop on this server (tokens configured): payment happens in the shop's app
        // (405: a server that leaves the path to its static files, GET and HEAD only)
        demoPay = false;
        outcome = null;
      } else if (r.status === 409) {
        if (body.status === 'expired' || body.status === 'cancelled') client.applyOrderState(id, body.status);
        outcome = { status: 'conflict', text: fill(PAY_TEXT[409], { s: body.status || 'not payable' }) };
      } else {
        outcome = { status: String(r.status), text: PAY_TEXT[r.status] || `The shop answered ${r.status}.` };
      }
    } catch (_) {
      outcome = { status: 'offline', text: PAY_TEXT.offline };
    }
    if (outcome) payOutcome.set(id, outcome);
    row.refs.busy = false;
    if (demoPay) renderOrder(id);
    else for (const o of orderRows.keys()) renderOrder(o);
  }

  async function cancelOrder(id) {
    const row = orderRows.get(id);
    if (!row || row.refs.busy) return;
    row.refs.busy = true;
    renderOrder(id);
    try {
      const answer = await client.cancel(id);
      if (answer.status !== 'ok' && answer.status !== 'already') {
        payOutcome.set(id, { status: answer.status, text: `Not cancelled (${answer.status}).` });
      }
    } catch (e) {
      payOutcome.set(id, { status: 'offline', text: PAY_TEXT.offline });
    }
    row.refs.busy = false;
    renderOrder(id);
  }

  // ---- the lucky bag (福袋): one card, the room's newest ----
  const lotteryBox = document.getElementById('lottery');
  let lotteryCard = null; // {id, card, refs}
  const enterOutcome = new Map(); // lottery id -> {status, text}
  const dismissed = new Set();
  const enteredKey = `livecart.entered.${params.room}.${params.user}`;
  try {
    for (const id of JSON.parse(localStorage.getItem(enteredKey) || '[]')) client.entered.add(String(id));
  } catch (_) { /* no storage: entries are known from this visit on */ }
  function rememberEntered() {
    try {
      localStorage.setItem(enteredKey, JSON.stringify([...client.entered].slice(-20)));
    } catch (_) { /* private mode */ }
  }

  function makeLotteryCard(id) {
    const card = el('article', 'lottery-card', null, { dataset: { testid: 'lottery', lottery: id } });
    const head = el('div', 'lottery-head');
    const badge = el('span', 'badge', 'Lucky bag');
    const countdown = el('span', 'lottery-countdown', null, { dataset: { testid: 'lottery-countdown' } });
    head.append(badge, countdown);
    const prize = el('h2', 'lottery-prize', null, { dataset: { testid: 'lottery-prize' } });
    const meta = el('p', 'lottery-meta', null, { dataset: { testid: 'lottery-meta' } });
    const hint = el('p', 'lottery-hint', null, { dataset: { testid: 'lottery-hint' } });
    const keyword = el('b', 'keyword', null, { dataset: { testid: 'lottery-keyword' } });
    const sendKeyword = el('button', 'send-keyword', 'Comment it', { type: 'button', dataset: { testid: 'lottery-send-keyword' } });
    hint.append('Comment ', keyword, ' to enter', sendKeyword);
    const enter = el('button', 'primary lottery-enter', 'Enter', { type: 'button', dataset: { testid: 'lottery-enter' } });
    const entered = el('p', 'lottery-entered', 'You’re in! Good luck.', { dataset: { testid: 'lottery-entered' } });
    const status = el('p', 'enter-status', null, { role: 'status', dataset: { testid: 'enter-status' } });
    const result = el('div', 'lottery-result', null, { dataset: { testid: 'lottery-result' } });
    const resultHead = el('p', 'result-head');
    const winners = el('ol', 'lottery-winners', null, { dataset: { testid: 'lottery-winners' } });
    const verify = el('a', 'lottery-verify', 'Verify the draw', { dataset: { testid: 'lottery-verify' }, target: '_blank', rel: 'noopener' });
    result.append(resultHead, winners, verify);
    const won = el('p', 'lottery-won', null, { dataset: { testid: 'lottery-won' } });
    const commit = el('p', 'lottery-commit', null, { dataset: { testid: 'lottery-commit' } });
    const close = el('button', 'lottery-dismiss', '×', { type: 'button', 'aria-label': 'Hide', dataset: { testid: 'lottery-dismiss' } });
    card.append(head, prize, meta, hint, enter, entered, status, won, result, commit, close);
    enter.addEventListener('click', () => enterLottery(id));
    sendKeyword.addEventListener('click', () => {
      const l = client.lotteries.get(id);
      if (!l || !l.keyword) return;
      if (!client.comment(l.keyword)) toast('Not connected: your comment was not sent.', 'error');
    });
    close.addEventListener('click', () => {
      dismissed.add(id);
      renderLottery();
    });
    return { id, card, refs: { countdown, prize, meta, hint, keyword, sendKeyword, enter, entered, status, result, resultHead, winners, verify, won, commit, close, pending: false } };
  }

  function lotteryState(l) {
    const phase = lotteryPhase(client, l);
    if (phase === 'drawn') return l.won ? 'won' : 'drawn';
    if (phase === 'open' && l.entered) return 'entered';
    return phase;
  }

  function renderLottery() {
    const l = client.lottery;
    if (!l || dismissed.has(l.lottery)) {
      if (lotteryCard) lotteryCard.card.remove();
      lotteryCard = null;
      return;
    }
    if (!lotteryCard || lotteryCard.id !== l.lottery) {
      if (lotteryCard) lotteryCard.card.remove();
      lotteryCard = makeLotteryCard(l.lottery);
      lotteryBox.append(lotteryCard.card);
    }
    const r = lotteryCard.refs;
    const state = lotteryState(l);
    lotteryCard.card.dataset.state = state;
    r.prize.textContent = l.prize || 'Lucky bag';
    const k = typeof l.winners === 'number' ? `${l.winners.toLocaleString('en-US')} winner${l.winners === 1 ? '' : 's'}` : '';
    const count = entriesKnown(l);
    const n = count === null ? '' : `${count.toLocaleString('en-US')} entr${count === 1 ? 'y' : 'ies'}`;
    r.meta.textContent = [k, n].filter(Boolean).join(' · ');
    const open = state === 'open' || state === 'entered';
    r.hint.hidden = !open || !l.keyword;
    r.keyword.textContent = l.keyword ? `“${l.keyword}”` : '';
    r.sendKeyword.hidden = !!l.entered;
    r.enter.hidden = !open || !!l.keyword || !!l.entered;
    r.enter.disabled = r.pending;
    r.enter.textContent = r.pending ? 'Entering…' : 'Enter';
    r.entered.hidden = !l.entered || l.won;
    r.entered.textContent = open ? 'You’re in! Good luck.' : state === 'drawn' ? 'You entered: not drawn this time.' : 'You entered.';
    const o = enterOutcome.get(l.lottery);
    r.status.textContent = o && !l.entered ? o.text : '';
    if (o) r.status.dataset.status = o.status;
    else delete r.status.dataset.status;
    r.won.hidden = !l.won;
    r.won.textContent = l.won ? `You won ${l.prize || 'the lucky bag'}!` : '';
    r.result.hidden = state !== 'drawn' && state !== 'won';
    if (l.result) {
      const w = l.result.winners;
      r.resultHead.textContent = w.length
        ? `${w.length.toLocaleString('en-US')} winner${w.length === 1 ? '' : 's'} drawn${typeof l.result.entries === 'number' ? ` from ${l.result.entries.toLocaleString('en-US')} entr${l.result.entries === 1 ? 'y' : 'ies'}` : ''}:`
        : 'Nobody entered: no winner.';
      const want = JSON.stringify(w.slice(0, 20));
      if (r.winners.dataset.list !== want) {
        r.winners.replaceChildren(...winnerItems(w, params.user));
        r.winners.dataset.list = want;
      }
      r.verify.href = verifyHref(l, params.room);
      r.verify.hidden = !l.result.seed;
    }
    r.commit.textContent = l.commit ? `commit ${shortHash(l.commit)}` : '';
    r.commit.title = l.commit ? `SHA-256 of the secret seed, published at the open: ${l.commit}` : '';
    r.close.hidden = open || state === 'drawing';
    renderLotteryClock();
  }

  function renderLotteryClock() {
    if (!lotteryCard) return;
    const l = client.lotteries.get(lotteryCard.id);
    if (!l) return;
    const r = lotteryCard.refs;
    const state = lotteryState(l);
    if (lotteryCard.card.dataset.state !== state) return renderLottery();
    const ms = typeof l.ends === 'number' ? client.msUntil(l.ends) : 0;
    r.countdown.dataset.seconds = String(Math.max(0, Math.ceil(ms / 1000)));
    r.countdown.textContent = state === 'open' || state === 'entered' ? `draw in ${formatCountdown(ms)}`
      : state === 'drawing' ? 'drawing…' : state === 'ended' ? 'drawn while you were away' : 'drawn';
  }

  async function enterLottery(id) {
    if (!lotteryCard || lotteryCard.refs.pending) return;
    lotteryCard.refs.pending = true;
    renderLottery();
    let answer;
    try {
      answer = await client.enterLottery(id);
    } catch (e) {
      answer = { status: e.code === 'timeout' ? 'timeout' : 'offline' };
    }
    enterOutcome.set(id, { status: answer.status, text: ENTER_TEXT[answer.status] || answer.status });
    if (lotteryCard && lotteryCard.id === id) lotteryCard.refs.pending = false;
    renderLottery();
  }

  const wonToasted = new Set();
  client.on('lotteries', ({ lottery, info }) => {
    if (info.entered) rememberEntered();
    renderLottery();
    if (info.won && !wonToasted.has(lottery)) {
      wonToasted.add(lottery);
      toast(`★ You won ${info.prize || 'the lucky bag'}!`);
    }
  });

  // ---- leaderboards and "people are buying" ----
  const renderBoard = makeBoards(byTestId('boards'), { me: params.user });
  for (const [b, entries] of client.boards) renderBoard(b, entries);
  client.on('boards', ({ board, entries }) => renderBoard(board, entries));
  const ticker = byTestId('buying');
  function renderBuying() {
    const b = client.buyingNow();
    const text = buyingText(b);
    if (ticker.textContent !== text) ticker.textContent = text;
    ticker.dataset.count = String(b ? b.count : 0);
    ticker.hidden = !text;
  }
  client.on('buying', renderBuying);

  // countdowns: coupon windows, payment deadlines, the lucky bag's draw, on Redis's clock
  setInterval(() => {
    renderLotteryClock();
    renderBuying();
    for (const [id, c] of couponCards) {
      const info = client.coupons.get(id);
      if (!info) continue;
      const state = couponState(info);
      if (c.card.dataset.state !== state) renderCoupon(id);
      else renderCouponClock(c, info, state);
    }
    for (const [id, row] of orderRows) {
      const info = client.orders.get(id);
      if (!info) continue;
      const state = orderState(info);
      if (row.li.dataset.state !== state) renderOrder(id);
      else renderOrderClock(row, info, state);
    }
  }, 250);

  // One tap of Buy / Join: the card shows it pending until the answer (or a failure) is in,
  // then describe(answer) gives the outcome's text.
  async function request(sku, send, describe) {
    const c = cards.get(sku);
    if (!c || c.refs.pending) return;
    c.refs.pending = true;
    renderSale(sku, client.sales.get(sku));
    let answer;
    try {
      answer = await send();
    } catch (e) {
      answer = { status: e.code === 'timeout' ? 'timeout' : 'offline' };
    }
    setOutcome(sku, answer.status, describe(answer));
    const cur = cards.get(sku);
    if (cur) cur.refs.pending = false;
    const sale = client.sales.get(sku);
    if (sale) renderSale(sku, sale);
  }

  function buy(sku) {
    const coupon = chosenCoupon(sku);
    return request(sku, () => client.buy(sku, { coupon: coupon || undefined }), (answer) => {
      const sale = client.sales.get(sku);
      // the deadline on this device's clock (a countdown in this text would go stale)
      const t = answer.pay_by ? new Date(Date.now() + client.msUntil(answer.pay_by)).toLocaleTimeString() : '';
      return fill(ORDER_TEXT[answer.status] || answer.status, { o: shortId(answer.order), l: sale ? sale.limit : '', t });
    });
  }

  function joinGroup(sku) {
    return request(sku, () => client.groupJoin(sku, { team: params.team }), (answer) => {
      if ((answer.status === 'joined' || answer.status === 'already') && answer.team) {
        myTeams.set(sku, { team: answer.team, members: answer.members, size: answer.size, done: false });
      }
      return fill(GROUP_TEXT[answer.status] || answer.status, { m: answer.members, s: answer.size });
    });
  }
  client.on('group_done', (m) => {
    const t = myTeams.get(m.sku);
    if (t) Object.assign(t, { done: true, members: t.size });
    setOutcome(m.sku, 'done', `Team complete! Order ${shortId(m.order)}`);
    const sale = client.sales.get(m.sku);
    if (sale) renderSale(m.sku, sale);
  });
  client.on('group_failed', (m) => {
    myTeams.delete(m.sku);
    setOutcome(m.sku, 'failed', 'Your team did not fill in time: nothing was charged.');
    const sale = client.sales.get(m.sku);
    if (sale) renderSale(m.sku, sale);
  });
  client.on('sale_closed', (m) => outcome.delete(m.sku));

  client.connect();
}

main();
