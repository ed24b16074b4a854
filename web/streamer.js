/*
 * The streamer console: GET /streamer.html?room=R&user=U[&token=T]
 * Opens and closes flash sales and group-buys; live viewers, likes, units sold per second,
 * stock left, and the room's comments (with delete and mute).
 */
import { LivecartClient, byteLength } from './livecart.js';
import {
  teamsText, openPage, el, byTestId, setCount, bindStatus, makeToast,
  ERROR_TEXT, CommentList, formatPrice,
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
    r.info.textContent = `${sku} · ${formatPrice(sale.price)} · ${sale.kind === 'group' ? `teams of ${sale.size}` : `limit ${sale.limit}`}`;
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

  client.connect();
}

if (globalThis.document) main();
