// Issue 5: data channels through the sfu. One page publishes a channel (the older pattern:
// sessions/new with an offer that already holds m=application, then datachannels/new), two
// other pages subscribe to it (one with datachannels/establish carrying its own offer, one
// with the SFU's offer answered through renegotiate). Messages of 1 B, 1 KiB, 64 KiB and the
// max-message-size, text and binary, reach both subscribers intact and in order; the
// negotiated echo channel (id 1023) answers. In each browser and across the two. A printed
// (not asserted) figure: browser -> sfu -> browser throughput.
const { test, expect, chromium, firefox } = require('@playwright/test');
const { sfu, api } = require('./helpers');
const { launchOptions } = require('../browsers');

// Runs in the page: a PeerConnection with its data channel transport set up in one of the
// three ways, then one channel through datachannels/new (published or subscribed), opened.
async function setupInPage({ appId, secret, role, publisherId, name }) {
  const call = async (method, path, body) => {
    const res = await fetch(`/v1/apps/${appId}${path}`, {
      method,
      headers: { Authorization: `Bearer ${secret}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  };
  // FNV-1a over the bytes, with the type: what arrived, compared with what was sent.
  window.__describe = (data) => {
    const binary = typeof data !== 'string';
    const bytes = binary ? new Uint8Array(data) : new TextEncoder().encode(data);
    let h = 0x811c9dc5;
    for (let i = 0; i < bytes.length; i++) { h ^= bytes[i]; h = Math.imul(h, 0x01000193) >>> 0; }
    return `${binary ? 'binary' : 'text'}:${bytes.length}:${h.toString(16)}`;
  };
  const opened = (channel) => new Promise((resolve, reject) => {
    if (channel.readyState === 'open') return resolve();
    const timer = setTimeout(() => reject(new Error(`channel ${channel.label} (id ${channel.id}) not open after 15 s: ${channel.readyState}`)), 15_000);
    channel.addEventListener('open', () => { clearTimeout(timer); resolve(); });
  });
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  window.__pc = pc;
  let sessionId;
  if (role === 'publisher') {
    // As Cloudflare's own example: an in-band channel makes the offer's m=application.
    pc.createDataChannel('server-events');
    window.__echo = pc.createDataChannel('echo', { negotiated: true, id: 1023 });
    await pc.setLocalDescription(await pc.createOffer());
    const res = await call('POST', '/sessions/new', { sessionDescription: { type: 'offer', sdp: pc.localDescription.sdp } });
    sessionId = res.sessionId;
    await pc.setRemoteDescription(res.sessionDescription);
  } else if (role === 'establish-with-offer') {
    window.__echo = pc.createDataChannel('echo', { negotiated: true, id: 1023 });
    sessionId = (await call('POST', '/sessions/new')).sessionId;
    await pc.setLocalDescription(await pc.createOffer());
    const res = await call('POST', `/sessions/${sessionId}/datachannels/establish`, {
      sessionDescription: { type: 'offer', sdp: pc.localDescription.sdp },
    });
    if (res.requiresImmediateRenegotiation) throw new Error('an answer needs no renegotiation');
    await pc.setRemoteDescription(res.sessionDescription);
  } else {
    sessionId = (await call('POST', '/sessions/new')).sessionId;
    const res = await call('POST', `/sessions/${sessionId}/datachannels/establish`, {});
    if (!res.requiresImmediateRenegotiation) throw new Error(`expected the SFU's offer: ${JSON.stringify(res)}`);
    await pc.setRemoteDescription(res.sessionDescription);
    await pc.setLocalDescription(await pc.createAnswer());
    await call('PUT', `/sessions/${sessionId}/renegotiate`, { sessionDescription: { type: 'answer', sdp: pc.localDescription.sdp } });
  }
  const entry = role === 'publisher'
    ? { location: 'local', dataChannelName: name }
    : { location: 'remote', sessionId: publisherId, dataChannelName: name };
  const res = await call('POST', `/sessions/${sessionId}/datachannels/new`, { dataChannels: [entry] });
  const item = res.dataChannels[0];
  if (item.errorCode) throw new Error(`datachannels/new: ${item.errorCode} ${item.errorDescription}`);
  const channel = pc.createDataChannel(name, { negotiated: true, id: item.id });
  channel.binaryType = 'arraybuffer';
  window.__channel = channel;
  window.__received = [];
  window.__bytes = 0;
  window.__count = 0;
  channel.addEventListener('message', (e) => {
    window.__count += 1;
    window.__bytes += typeof e.data === 'string' ? e.data.length : e.data.byteLength;
    window.__lastAt = Date.now();
    if (!window.__blast) window.__received.push(window.__describe(e.data));
  });
  await opened(channel);
  return { sessionId, id: item.id, maxMessageSize: pc.sctp ? pc.sctp.maxMessageSize : null };
}

// Runs in the page: sends one message of each size, text then binary, and returns their
// descriptions in order.
async function sendAllInPage({ sizes }) {
  const channel = window.__channel;
  const expected = [];
  const alphabet = 'abcdefghijklmnopqrstuvwxyz';
  sizes.forEach((size, n) => {
    let text = '';
    while (text.length < size) text += alphabet.slice((text.length + n) % 26) + alphabet.slice(0, (text.length + n) % 26);
    text = text.slice(0, size);
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 7 + n) & 255;
    channel.send(text);
    expected.push(window.__describe(text));
    channel.send(bytes);
    expected.push(window.__describe(bytes.buffer));
  });
  return expected;
}

// Runs in the page: the echo channel answers text with text and binary with binary.
async function echoInPage() {
  const echo = window.__echo;
  echo.binaryType = 'arraybuffer';
  if (echo.readyState !== 'open') {
    await new Promise((resolve, reject) => {
      setTimeout(() => reject(new Error(`echo channel ${echo.readyState}`)), 15_000);
      echo.addEventListener('open', resolve);
    });
  }
  const got = [];
  const done = new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error(`echo: ${JSON.stringify(got)}`)), 15_000);
    echo.addEventListener('message', (e) => {
      got.push(typeof e.data === 'string' ? `text:${e.data}` : `binary:${Array.from(new Uint8Array(e.data)).join(',')}`);
      if (got.length === 2) resolve();
    });
  });
  echo.send('ping');
  echo.send(new Uint8Array([0, 1, 2, 255]));
  await done;
  return got;
}

// Runs in the publisher's page: sends `total` bytes in binary messages of `size`, keeping
// at most 4 MiB buffered; returns when everything is handed to the browser's SCTP.
async function blastInPage({ total, size }) {
  const channel = window.__channel;
  const message = new Uint8Array(size);
  channel.bufferedAmountLowThreshold = 1 << 20;
  const startedAt = Date.now();
  let sent = 0;
  while (sent < total) {
    if (channel.bufferedAmount > 4 << 20) {
      await new Promise((resolve) => channel.addEventListener('bufferedamountlow', resolve, { once: true }));
      continue;
    }
    channel.send(message);
    sent += size;
  }
  // Everything acknowledged by the sfu: the publisher's own rate.
  while (channel.bufferedAmount > 0) await new Promise((r) => setTimeout(r, 5));
  return { startedAt, drainedAt: Date.now() };
}

// Runs in the page: the same transfer between two PeerConnections of this page, without the
// sfu, as a reference for the browser's own data channel speed on this machine.
async function directInPage({ total, size }) {
  const a = new RTCPeerConnection();
  const b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const send = a.createDataChannel('direct', { negotiated: true, id: 0 });
  const receive = b.createDataChannel('direct', { negotiated: true, id: 0 });
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  await new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error('direct channel did not open')), 15_000);
    if (send.readyState === 'open') resolve(); else send.onopen = resolve;
  });
  let bytes = 0;
  const done = new Promise((resolve) => {
    receive.onmessage = (e) => { bytes += e.data.size || e.data.byteLength || e.data.length; if (bytes >= total) resolve(); };
  });
  receive.binaryType = 'arraybuffer';
  const message = new Uint8Array(size);
  send.bufferedAmountLowThreshold = 1 << 20;
  const startedAt = Date.now();
  let sent = 0;
  while (sent < total) {
    if (send.bufferedAmount > 4 << 20) {
      await new Promise((resolve) => send.addEventListener('bufferedamountlow', resolve, { once: true }));
      continue;
    }
    send.send(message);
    sent += size;
  }
  await done;
  const ms = Date.now() - startedAt;
  a.close();
  b.close();
  return total / 1e6 / (ms / 1000);
}

async function waitReceived(page, count, label, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let got = 0;
  while (Date.now() < deadline) {
    got = await page.evaluate(() => window.__received.length);
    if (got >= count) return page.evaluate(() => window.__received);
    await page.waitForTimeout(50);
  }
  throw new Error(`${label}: ${got} of ${count} messages arrived`);
}

async function fanOut(publisherPage, subscriberPages, label) {
  const s = sfu();
  const name = `chat-${Math.random().toString(36).slice(2, 8)}`;
  for (const page of [publisherPage, ...subscriberPages]) await page.goto(`http://${s.http}/`);
  const published = await publisherPage.evaluate(setupInPage, { appId: s.appId, secret: s.secret, role: 'publisher', name });
  const roles = ['establish-with-offer', 'establish-by-sfu-offer'];
  const subscribed = [];
  for (const [i, page] of subscriberPages.entries()) {
    subscribed.push(await page.evaluate(setupInPage, {
      appId: s.appId, secret: s.secret, role: roles[i % 2], publisherId: published.sessionId, name,
    }));
  }
  expect(published.maxMessageSize).toBeGreaterThanOrEqual(65_536);
  const sizes = [1, 1024, 65_536, published.maxMessageSize];
  const expected = await publisherPage.evaluate(sendAllInPage, { sizes });
  for (const [i, page] of subscriberPages.entries()) {
    const got = await waitReceived(page, expected.length, `${label} subscriber ${i}`);
    expect(got).toEqual(expected);
  }
  const { body: session } = await api('GET', `/sessions/${subscribed[0].sessionId}`);
  expect(session.dataChannels).toEqual([expect.objectContaining({
    id: subscribed[0].id, location: 'remote', dataChannelName: name, sessionId: published.sessionId,
  })]);
  console.log(`[${label}] ${expected.length} messages (${sizes.join(', ')} bytes, text and binary) reached ${subscriberPages.length} subscribers; max-message-size ${published.maxMessageSize}`);

  // The negotiated echo channel, on the publisher and on the subscriber that has one.
  expect(await publisherPage.evaluate(echoInPage)).toEqual(['text:ping', 'binary:0,1,2,255']);
  expect(await subscriberPages[0].evaluate(echoInPage)).toEqual(['text:ping', 'binary:0,1,2,255']);

  // Throughput, printed only: 16 MiB in 64 KiB messages to every subscriber.
  const total = 16 << 20;
  const size = 65_536;
  for (const page of subscriberPages) await page.evaluate(() => { window.__blast = true; window.__bytes = 0; window.__count = 0; });
  const { startedAt, drainedAt } = await publisherPage.evaluate(blastInPage, { total, size });
  const deadline = Date.now() + 30_000;
  const results = [];
  for (const page of subscriberPages) {
    let last = { bytes: 0 };
    let quietSince = Date.now();
    while (Date.now() < deadline) {
      const now = await page.evaluate(() => ({ bytes: window.__bytes, lastAt: window.__lastAt }));
      if (now.bytes >= total) { last = now; break; }
      if (now.bytes !== last.bytes) quietSince = Date.now();
      if (Date.now() - quietSince > 3000) { last = now; break; }
      last = now;
      await page.waitForTimeout(100);
    }
    results.push(last);
  }
  const { body: stats } = await api('GET', '/stats');
  const sessions = [];
  for (const sub of subscribed) sessions.push((await api('GET', `/sessions/${sub.sessionId}`)).body.stats);
  const figures = results.map((r, i) => `${(r.bytes / 1e6 / ((r.lastAt - startedAt) / 1000)).toFixed(1)} MB/s (${(r.bytes / (1 << 20)).toFixed(1)} MiB; sfu retransmitted ${sessions[i].sctp_retransmitted_chunks} chunks, ${sessions[i].sctp_t3_expirations} T3)`);
  console.log(`[${label}] browser -> sfu -> browser, 64 KiB messages, ${subscriberPages.length} subscribers: ${figures.join(', ')}; publisher -> sfu ${(total / 1e6 / ((drainedAt - startedAt) / 1000)).toFixed(1)} MB/s; sfu dropped for slow subscribers so far: ${stats.channel_messages_dropped_slow_subscriber}`);
  const direct = await publisherPage.evaluate(directInPage, { total, size });
  console.log(`[${label}] reference, two PeerConnections in the publisher's page without the sfu: ${direct.toFixed(1)} MB/s`);
}

test('a page publishes a channel, two pages of the same browser subscribe', async ({ browser, browserName }) => {
  const contexts = [await browser.newContext(), await browser.newContext(), await browser.newContext()];
  try {
    const [publisher, ...subscribers] = await Promise.all(contexts.map((c) => c.newPage()));
    await fanOut(publisher, subscribers, `${browserName} -> ${browserName} x2`);
  } finally {
    for (const c of contexts) await c.close();
  }
});

const types = { chromium, firefox };
for (const [from, to] of [['chromium', 'firefox'], ['firefox', 'chromium']]) {
  test(`${from} publishes a channel, ${to} subscribes twice`, async ({ browser, browserName }) => {
    test.skip(browserName !== from, `runs once, in the ${from} project`);
    const other = await types[to].launch(launchOptions[to]);
    const contexts = [await browser.newContext(), await other.newContext(), await other.newContext()];
    try {
      const [publisher, ...subscribers] = await Promise.all(contexts.map((c) => c.newPage()));
      await fanOut(publisher, subscribers, `${from} -> ${to} x2`);
    } finally {
      for (const c of contexts) await c.close();
      await other.close();
    }
  });
}
