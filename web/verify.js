/*
 * The verify page: /verify.html#room=R&lottery=ID&seed=HEX&commit=HEX&k=K&entries=N&w=U1&w=U2…
 * (the viewer page's "Verify the draw" link fills in what the room told it). The entrant list
 * is pasted (the shop's GET /api/rooms/ROOM/lotteries/ID answer, or a list): the page checks
 * SHA-256(seed) = commit and recomputes the winners with the rule of PROTOCOL.md, in the browser.
 */
import { verifyDraw, verifyCommit } from './livecart.js';
import { el, byTestId } from './ui.js';

const HEX64 = /^[0-9a-fA-F]{64}$/;

/** Lines of a textarea: \r dropped, empty lines left out (a user id is never empty). */
function lines(text) {
  return String(text).split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l !== '');
}

function sameList(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function main() {
  const form = document.getElementById('verify-form');
  const field = (n) => form.elements.namedItem(n);
  const jsonBox = byTestId('verify-json');
  const verdict = byTestId('verify-result');
  const checks = byTestId('verify-checks');
  const computedBox = document.querySelector('.computed-box');
  const computedList = byTestId('verify-computed');

  // what the room told the page that linked here
  const link = new URLSearchParams(globalThis.location.hash.slice(1));
  const told = {
    room: link.get('room') || '',
    lottery: link.get('lottery') || '',
    seed: link.get('seed') || '',
    commit: link.get('commit') || '',
    k: link.get('k') || '',
    entries: link.get('entries') || '',
    winners: link.getAll('w'),
  };
  field('seed').value = told.seed;
  field('commit').value = told.commit;
  field('k').value = told.k;
  field('winners').value = told.winners.join('\n');
  if (told.lottery) {
    byTestId('verify-room').textContent = `Checking lucky bag “${told.lottery}”${told.room ? ` of room “${told.room}”` : ''}: the link filled in what the room was told.`;
  }

  const autofilled = new Set(); // fields the pasted answer filled in

  function show(list, ok, computed) {
    checks.replaceChildren(...list.map((c) => el('li', `check ${c.ok}`, c.text, { dataset: { testid: 'verify-check', check: c.name, ok: c.ok } })));
    const failed = list.some((c) => c.ok === 'false');
    verdict.dataset.ok = failed ? 'false' : ok ? 'true' : 'partial';
    verdict.textContent = failed ? '✗ This draw does not check out.'
      : ok ? '✓ Verified: the seed is the committed one and the rule gives exactly these winners.'
        : 'Not everything could be checked yet (see below).';
    computedBox.hidden = !computed;
    if (computed) computedList.replaceChildren(...computed.map((u) => el('li', null, u, { dataset: { testid: 'verify-winner', user: u } })));
  }

  async function run() {
    const out = [];
    const add = (name, ok, text) => out.push({ name, ok: ok === true ? 'true' : ok === false ? 'false' : 'info', text });
    // the shop's answer, if pasted
    let shop = null;
    const raw = jsonBox.value.trim();
    if (raw) {
      try {
        const j = JSON.parse(raw);
        if (Array.isArray(j)) shop = { entrants: j };
        else if (j && typeof j === 'object') shop = j;
        else throw new Error('not an object or a list');
      } catch (e) {
        add('json', false, `The pasted text is not the JSON of the answer: ${e.message}`);
        return show(out, false, null);
      }
      if (shop.entrants !== undefined && !(Array.isArray(shop.entrants) && shop.entrants.every((u) => typeof u === 'string'))) {
        add('json', false, 'entrants must be a list of user ids (strings)');
        return show(out, false, null);
      }
      if (shop.state === 'open') {
        add('state', null, 'This lucky bag is not drawn yet: the seed is revealed at the draw.');
      } else if (shop.state === 'closed') {
        add('state', null, 'This lucky bag is closed and its winners are being recorded: ask again in a moment for the winners and the entrants.');
      }
      // fill in what the fields do not say yet (the page shows what it checks); fields an
      // earlier answer filled in are the new answer's now
      const shopK = typeof shop.k === 'number' ? shop.k : typeof shop.winners === 'number' ? shop.winners : null;
      const fromShop = {
        seed: typeof shop.seed === 'string' ? shop.seed : null,
        commit: typeof shop.commit === 'string' ? shop.commit : null,
        k: shopK !== null ? String(shopK) : null,
        winners: Array.isArray(shop.winners) ? shop.winners.map(String).join('\n') : null,
        entrants: Array.isArray(shop.entrants) ? shop.entrants.join('\n') : null,
      };
      for (const [name, v] of Object.entries(fromShop)) {
        const f = field(name);
        if (name === 'entrants' || !f.value.trim() || autofilled.has(name)) {
          if (v !== null) {
            f.value = v;
            autofilled.add(name);
          } else if (autofilled.has(name)) {
            f.value = '';
            autofilled.delete(name);
          }
        }
      }
    }
    const seed = field('seed').value.trim();
    const commit = field('commit').value.trim();
    const kText = field('k').value.trim();
    const winners = lines(field('winners').value);
    // a pasted list is taken as it is (a user id may hold any character); typed ones by line
    const entrants = shop && Array.isArray(shop.entrants) ? shop.entrants : lines(field('entrants').value);

    // the room's word against the shop's, where both said something
    if (shop) {
      if (told.commit && typeof shop.commit === 'string' && shop.commit.toLowerCase() !== told.commit.toLowerCase()) {
        add('same-commit', false, 'The answer names another commit than the one the room was told at the open.');
      }
      if (told.seed && typeof shop.seed === 'string' && shop.seed.toLowerCase() !== told.seed.toLowerCase()) {
        add('same-seed', false, 'The answer names another seed than the one the room was told at the draw.');
      }
      if (told.winners.length && Array.isArray(shop.winners) && !sameList(told.winners, shop.winners.map(String))) {
        add('same-winners', false, 'The answer names other winners than the room was told at the draw.');
      }
      if (commit && typeof shop.commit === 'string' && shop.commit.toLowerCase() !== commit.toLowerCase() && !told.commit) {
        add('same-commit', false, 'The answer names another commit than the one typed in.');
      }
    }

    if (!seed) {
      add('seed', null, 'No seed yet: it is revealed at the draw (paste the answer, or type it).');
      return show(out, false, null);
    }
    if (!HEX64.test(seed)) {
      add('seed', false, 'The seed must be 64 hex digits (32 bytes).');
      return show(out, false, null);
    }
    if (!commit) add('commit', null, 'No commit to check the seed against: paste the answer, or the commit the room was told.');
    else if (!HEX64.test(commit)) add('commit', false, 'The commit must be 64 hex digits (a SHA-256).');
    else if (await verifyCommit(seed, commit)) add('commit', true, 'SHA-256(seed) = commit: the seed is the one committed to before anyone entered.');
    else add('commit', false, 'SHA-256(seed) is not the commit: this is not the seed the lucky bag was opened with.');

    if (!entrants.length) {
      add('entrants', null, 'Paste the entrant list to recompute the winners (the room never broadcasts it).');
      return show(out, false, null);
    }
    let K = kText === '' ? null : Number(kText);
    if (K !== null && (!Number.isInteger(K) || K < 1)) {
      add('k', false, 'K must be a whole number from 1.');
      return show(out, false, null);
    }
    if (K === null && !winners.length) {
      add('k', false, 'Give K (the number of winners asked for) or the winners.');
      return show(out, false, null);
    }
    let r;
    try {
      r = await verifyDraw({ seed, commit: HEX64.test(commit) ? commit : null, k: K, entrants, winners: winners.length ? winners : null });
    } catch (e) {
      add('draw', false, `Cannot draw: ${e.message}`);
      return show(out, false, null);
    }
    const n = r.entrants.length;
    let entrantsText = `${n.toLocaleString('en-US')} entrant${n === 1 ? '' : 's'}`;
    if (!r.sorted) entrantsText += ' (not in bytewise order as given: sorted here, as the draw does)';
    if (r.duplicates.length) {
      add('entrants', false, `${entrantsText}; listed more than once: ${r.duplicates.slice(0, 5).join(', ')}${r.duplicates.length > 5 ? '…' : ''}`);
    } else add('entrants', null, `${entrantsText}.`);
    const expected = shop && typeof shop.entries === 'number' ? shop.entries : told.entries !== '' ? Number(told.entries) : null;
    if (expected !== null && expected !== n) {
      add('entries', false, `The lucky bag had ${expected.toLocaleString('en-US')} entries, the list has ${n.toLocaleString('en-US')}.`);
    }
    const k = r.computed.length;
    if (r.winnersOk === true) {
      add('winners', true, `The rule gives exactly these ${k.toLocaleString('en-US')} winner${k === 1 ? '' : 's'}, in this order.`);
    } else if (r.winnersOk === false) {
      const first = r.computed.findIndex((u, i) => winners[i] !== u);
      add('winners', false, `The rule gives other winners (from place ${first >= 0 ? first + 1 : r.computed.length + 1} on): see below.`);
    } else {
      add('winners', null, 'No winners given to compare: the rule gives the ones below.');
    }
    show(out, r.commitOk === true && r.winnersOk === true, r.computed);
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    run().catch((e) => show([{ name: 'error', ok: 'false', text: String(e && e.message ? e.message : e) }], false, null));
  });
  jsonBox.addEventListener('change', () => form.requestSubmit());
  // what the link brought can be checked at once (the commit); the winners need the entrants
  if (told.seed) form.requestSubmit();
}

main();
