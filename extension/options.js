// Keyhold extension: the options page.
//
// The options live in chrome.storage.local, where the background reads
// them at each request: "exact" (match the exact host by default; sent
// to Keyhold with every request, a login's own setting wins) and
// "offerSave" (offer to save logins after a form is sent).
'use strict';

const $ = (id) => document.getElementById(id);

function announce(text) {
  const n = $('status');
  n.textContent = '';
  requestAnimationFrame(() => { n.textContent = text; });
  setTimeout(() => { n.textContent = ''; }, 5000);
}

async function showShortcuts() {
  const body = $('shortcuts');
  body.replaceChildren();
  const commands = await chrome.commands.getAll();
  for (const c of commands) {
    const name = c.name === '_execute_action' ? 'Open Keyhold' : (c.description || c.name);
    const keys = document.createElement('td');
    if (c.shortcut) {
      const k = document.createElement('kbd');
      k.textContent = c.shortcut;
      keys.append(k);
    } else {
      keys.textContent = 'Not set';
    }
    const row = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = name;
    row.append(th, keys);
    body.append(row);
  }
}

async function load() {
  const o = await chrome.storage.local.get({ exact: false, offerSave: true });
  $('exact').checked = o.exact === true;
  $('offer-save').checked = o.offerSave !== false;
}

$('exact').addEventListener('change', async (e) => {
  await chrome.storage.local.set({ exact: e.currentTarget.checked });
  announce(e.currentTarget.checked ? 'Saved: logins match the exact host unless they say otherwise.' : 'Saved: logins match their whole site unless they say otherwise.');
});

$('offer-save').addEventListener('change', async (e) => {
  await chrome.storage.local.set({ offerSave: e.currentTarget.checked });
  announce(e.currentTarget.checked ? 'Saved: Keyhold offers to save logins.' : 'Saved: Keyhold does not offer to save logins.');
});

$('change-shortcuts').addEventListener('click', () => chrome.tabs.create({ url: 'chrome://extensions/shortcuts' }));

// The shortcuts may have been changed on the browser's page meanwhile.
window.addEventListener('focus', showShortcuts);

showShortcuts();
load();
