/*
 * The viewer page: GET /?room=R&user=U[&token=T][&team=TEAM]
 * Comments, likes, viewers, the open sales with a live stock bar, Buy and group-buy joins.
 */
import { LivecartClient, byteLength } from './livecart.js';
import {
  openPage, el, byTestId, setCount, bindStatus, makeToast,
  ERROR_TEXT, CommentList, formatPrice, teamsText,
} from './ui.js';

const ORDER_TEXT = {
  ok: 'Bought! Order %o',
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
  client.on('welcome', (m) => {
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
    const refs = { title, price, bar, fillBar, stock, action, status, pending: false };
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
    r.price.textContent = formatPrice(sale.price);
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
    return request(sku, () => client.buy(sku), (answer) => {
      const sale = client.sales.get(sku);
      return fill(ORDER_TEXT[answer.status] || answer.status, { o: shortId(answer.order), l: sale ? sale.limit : '' });
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
