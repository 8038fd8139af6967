// The rest of the tracks API in real browsers: a pull answered to the client's own offer,
// tracks/close with force true and false (with an SFU offer and with the client's offer),
// tracks/update swapping the publisher behind a mid without the decoder stalling, and one
// publisher seen by four subscribers. Each runs in Chromium and in Firefox.
const { test, expect } = require('@playwright/test');
const { sfu, api, pushInPage, pollSession } = require('./helpers');

// Runs in the page: a Calls API client, and the subscriber's receiving side. Every remote
// track is shown in an element so the browser decodes it.
function setupInPage({ appId, secret }) {
  window.__call = async (method, path, body) => {
    const res = await fetch(`/v1/apps/${appId}${path}`, {
      method,
      headers: { Authorization: `Bearer ${secret}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  };
  window.__show = (track) => {
    const element = document.createElement(track.kind);
    element.autoplay = true;
    element.muted = true;
    element.srcObject = new MediaStream([track]);
    document.body.appendChild(element);
    element.play().catch(() => {});
  };
  window.__inbound = async (pc) => {
    const out = {};
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp') {
        out[s.mid !== undefined ? s.mid : s.kind] = {
          kind: s.kind, packetsReceived: s.packetsReceived || 0, framesDecoded: s.framesDecoded || 0,
        };
      }
    });
    return out;
  };
}

// Runs in the page: pulls video and audio with the client's own offer (recvonly
// transceivers), answered directly by the SFU.
async function pullWithOfferInPage({ sessionId, trackNames }) {
  const { sessionId: own } = await window.__call('POST', '/sessions/new');
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  pc.addEventListener('track', (e) => window.__show(e.track));
  const transceivers = trackNames.map((name) => [name, pc.addTransceiver(name === 'video' ? 'video' : 'audio', { direction: 'recvonly' })]);
  await pc.setLocalDescription(await pc.createOffer());
  const res = await window.__call('POST', `/sessions/${own}/tracks/new`, {
    sessionDescription: { type: 'offer', sdp: pc.localDescription.sdp },
    tracks: transceivers.map(([trackName, t]) => ({ location: 'remote', sessionId, trackName, mid: t.mid })),
  });
  if (res.requiresImmediateRenegotiation) throw new Error('an answered pull needs no renegotiation');
  for (const t of res.tracks) if (t.errorCode) throw new Error(`${t.trackName}: ${t.errorCode} ${t.errorDescription}`);
  await pc.setRemoteDescription(res.sessionDescription);
  window.__sub = pc;
  return { sessionId: own, mids: transceivers.map(([name, t]) => [name, t.mid]) };
}

// Runs in the page: pulls with the SFU's offer (tracks/new, then renegotiate).
async function pullWithSfuOfferInPage({ sessionId, trackNames }) {
  const { sessionId: own } = await window.__call('POST', '/sessions/new');
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  pc.addEventListener('track', (e) => window.__show(e.track));
  const res = await window.__call('POST', `/sessions/${own}/tracks/new`, {
    tracks: trackNames.map((trackName) => ({ location: 'remote', sessionId, trackName })),
  });
  await pc.setRemoteDescription(res.sessionDescription);
  await pc.setLocalDescription(await pc.createAnswer());
  await window.__call('PUT', `/sessions/${own}/renegotiate`, { sessionDescription: { type: 'answer', sdp: pc.localDescription.sdp } });
  window.__sub = pc;
  return { sessionId: own, mids: res.tracks.map((t) => [t.trackName, t.mid]) };
}

async function inbound(page) {
  return page.evaluate(() => window.__inbound(window.__sub));
}

// Polls the subscriber's inbound stats until `predicate` holds.
async function waitInbound(page, predicate, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await inbound(page);
    if (predicate(last)) return last;
    await page.waitForTimeout(200);
  }
  throw new Error(`${what}; last inbound stats: ${JSON.stringify(last)}`);
}

const videoOf = (stats) => Object.values(stats).find((s) => s.kind === 'video') || { packetsReceived: 0, framesDecoded: 0 };
const audioOf = (stats) => Object.values(stats).find((s) => s.kind === 'audio') || { packetsReceived: 0, framesDecoded: 0 };

async function publisherPage(browser, s) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`http://${s.http}/`);
  const published = await page.evaluate(pushInPage, { appId: s.appId, secret: s.secret });
  return { context, page, sessionId: published.sessionId };
}

async function subscriberPage(browser, s) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`http://${s.http}/`);
  await page.evaluate(setupInPage, { appId: s.appId, secret: s.secret });
  return { context, page };
}

test('a pull answered to the client offer decodes video and audio', async ({ browser, browserName }) => {
  const s = sfu();
  const pub = await publisherPage(browser, s);
  const sub = await subscriberPage(browser, s);
  try {
    const pulled = await sub.page.evaluate(pullWithOfferInPage, { sessionId: pub.sessionId, trackNames: ['video', 'audio'] });
    const first = await waitInbound(sub.page, (x) => videoOf(x).framesDecoded > 10 && audioOf(x).packetsReceived > 0, 'no media on the answered pull');
    await waitInbound(sub.page, (x) => videoOf(x).framesDecoded > videoOf(first).framesDecoded + 30, 'video stalled');
    const session = await pollSession(pulled.sessionId, (b) => b.tracks.length === 2 && b.tracks.every((t) => t.status === 'active'));
    expect(session.tracks.map((t) => t.trackName).sort()).toEqual(['audio', 'video']);
    console.log(`[${browserName}] pull with a client offer: ${videoOf(first).framesDecoded}+ frames decoded`);
  } finally {
    await pub.context.close();
    await sub.context.close();
  }
});

test('tracks/close with force true, with the SFU offer and with the client offer', async ({ browser, browserName }) => {
  const s = sfu();
  const pub = await publisherPage(browser, s);
  const sub = await subscriberPage(browser, s);
  try {
    const pulled = await sub.page.evaluate(pullWithSfuOfferInPage, { sessionId: pub.sessionId, trackNames: ['video', 'audio'] });
    const mids = Object.fromEntries(pulled.mids);
    await waitInbound(sub.page, (x) => videoOf(x).framesDecoded > 10 && audioOf(x).packetsReceived > 0, 'no media before closing');

    // force: true stops the audio without renegotiation: its packet count stops growing.
    const forced = await sub.page.evaluate(({ id, mid }) => window.__call('PUT', `/sessions/${id}/tracks/close`, { tracks: [{ mid }], force: true }), { id: pulled.sessionId, mid: mids.audio });
    expect(forced.requiresImmediateRenegotiation).toBe(false);
    expect(forced.tracks[0].errorCode).toBeUndefined();
    await sub.page.waitForTimeout(500);
    const stopped = audioOf(await inbound(sub.page)).packetsReceived;
    await sub.page.waitForTimeout(1000);
    expect(audioOf(await inbound(sub.page)).packetsReceived).toBe(stopped);

    // force: false without an offer: the SFU offers the video section stopped.
    const closed = await sub.page.evaluate(async ({ id, mid }) => {
      const res = await window.__call('PUT', `/sessions/${id}/tracks/close`, { tracks: [{ mid }] });
      if (!res.requiresImmediateRenegotiation) throw new Error('expected an SFU offer');
      await window.__sub.setRemoteDescription(res.sessionDescription);
      await window.__sub.setLocalDescription(await window.__sub.createAnswer());
      await window.__call('PUT', `/sessions/${id}/renegotiate`, { sessionDescription: { type: 'answer', sdp: window.__sub.localDescription.sdp } });
      const t = window.__sub.getTransceivers().find((x) => x.mid === mid);
      const states = [window.__sub.connectionState];
      for (let i = 0; i < 50 && window.__sub.connectionState !== 'connected'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        states.push(window.__sub.connectionState);
      }
      // The first section carries the BUNDLE transport: the SFU makes it inactive rather
      // than stopped, so the connection stays up.
      const ended = !t || t.stopped === true || t.currentDirection === 'stopped' || t.currentDirection === 'inactive';
      return { stopped: ended, state: window.__sub.connectionState, states };
    }, { id: pulled.sessionId, mid: mids.video });
    expect(closed.stopped).toBe(true);
    expect(closed.state).toBe('connected');
    const session = await pollSession(pulled.sessionId, (b) => b.tracks.length === 0);
    expect(session.connectionState).toBe('connected');

    // force: false with the client's offer, on a fresh pull: the client stops the
    // transceiver and offers; the SFU answers.
    const again = await sub.page.evaluate(async ({ id, publisher }) => {
      const res = await window.__call('POST', `/sessions/${id}/tracks/new`, { tracks: [{ location: 'remote', sessionId: publisher, trackName: 'video' }] });
      await window.__sub.setRemoteDescription(res.sessionDescription);
      await window.__sub.setLocalDescription(await window.__sub.createAnswer());
      await window.__call('PUT', `/sessions/${id}/renegotiate`, { sessionDescription: { type: 'answer', sdp: window.__sub.localDescription.sdp } });
      return res.tracks[0].mid;
    }, { id: pulled.sessionId, publisher: pub.sessionId });
    await pollSession(pulled.sessionId, (b) => b.tracks.length === 1 && b.tracks[0].status === 'active');
    const answered = await sub.page.evaluate(async ({ id, mid }) => {
      const t = window.__sub.getTransceivers().find((x) => x.mid === mid);
      t.stop();
      await window.__sub.setLocalDescription(await window.__sub.createOffer());
      const res = await window.__call('PUT', `/sessions/${id}/tracks/close`, {
        tracks: [{ mid }], sessionDescription: { type: 'offer', sdp: window.__sub.localDescription.sdp }, force: false,
      });
      await window.__sub.setRemoteDescription(res.sessionDescription);
      return { type: res.sessionDescription.type, state: window.__sub.signalingState, error: res.tracks[0].errorCode };
    }, { id: pulled.sessionId, mid: again });
    expect(answered).toEqual({ type: 'answer', state: 'stable', error: undefined });
    await pollSession(pulled.sessionId, (b) => b.tracks.length === 0 && b.connectionState === 'connected');
    console.log(`[${browserName}] closed audio (force), video (SFU offer) and a second video (client offer)`);
  } finally {
    await pub.context.close();
    await sub.context.close();
  }
});

test('tracks/update swaps the publisher behind a mid and decoding goes on', async ({ browser, browserName }) => {
  const s = sfu();
  const first = await publisherPage(browser, s);
  const second = await publisherPage(browser, s);
  const sub = await subscriberPage(browser, s);
  try {
    const pulled = await sub.page.evaluate(pullWithSfuOfferInPage, { sessionId: first.sessionId, trackNames: ['video'] });
    const mid = pulled.mids[0][1];
    const before = await waitInbound(sub.page, (x) => videoOf(x).framesDecoded > 20, 'no video before the swap');
    const { body: statsBefore } = await api('GET', '/stats');
    const res = await sub.page.evaluate(({ id, mid, publisher }) => window.__call('PUT', `/sessions/${id}/tracks/update`, {
      tracks: [{ location: 'remote', mid, sessionId: publisher, trackName: 'video' }],
    }), { id: pulled.sessionId, mid, publisher: second.sessionId });
    expect(res.tracks[0].errorCode).toBeUndefined();
    const session = await pollSession(pulled.sessionId, (b) => b.tracks[0].sessionId === second.sessionId);
    expect(session.tracks[0].status).toBe('active');
    // The decoder goes on with the new source: many more frames, none of them lost to a
    // broken sequence (the picture keeps its size too).
    const after = await waitInbound(sub.page, (x) => videoOf(x).framesDecoded > videoOf(before).framesDecoded + 60, 'video stalled after the swap');
    const { body: statsAfter } = await api('GET', '/stats');
    expect(statsAfter.keyframe_requests_sent).toBeGreaterThan(statsBefore.keyframe_requests_sent);
    const size = await sub.page.evaluate(() => { const v = document.querySelector('video'); return [v.videoWidth, v.videoHeight]; });
    expect(size[0]).toBeGreaterThan(0);
    console.log(`[${browserName}] tracks/update: ${videoOf(before).framesDecoded} frames before, ${videoOf(after).framesDecoded} after the swap`);
  } finally {
    await first.context.close();
    await second.context.close();
    await sub.context.close();
  }
});

test('one publisher, four subscribers', async ({ browser, browserName }) => {
  const s = sfu();
  const pub = await publisherPage(browser, s);
  const subs = [];
  try {
    for (let i = 0; i < 4; i++) {
      const sub = await subscriberPage(browser, s);
      subs.push(sub);
      await sub.page.evaluate(pullWithSfuOfferInPage, { sessionId: pub.sessionId, trackNames: ['video', 'audio'] });
    }
    const decoded = [];
    for (const sub of subs) {
      const x = await waitInbound(sub.page, (y) => videoOf(y).framesDecoded > 20 && audioOf(y).packetsReceived > 20, 'a subscriber got no media');
      decoded.push(videoOf(x).framesDecoded);
    }
    console.log(`[${browserName}] 1 publisher to 4 subscribers: frames decoded ${decoded.join(', ')}`);
  } finally {
    await pub.context.close();
    for (const sub of subs) await sub.context.close();
  }
});
