// Simulcast in real browsers: a publisher sends its camera in two layers (rid "a" at a
// quarter of the size, rid "b" at full size); a subscriber pulls it preferring "a", then
// switches to "b" with tracks/update. The decoded frame size follows the choice and the
// decoder never stalls across the switch. Runs in Chromium and in Firefox.
const { test, expect } = require('@playwright/test');
const { sfu, api, pollSession } = require('./helpers');

// Runs in the page: a Calls API client.
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
}

// Runs in the page: pushes the camera with two simulcast encodings.
async function pushSimulcastInPage() {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  const track = stream.getVideoTracks()[0];
  const t = pc.addTransceiver(track, {
    direction: 'sendonly',
    streams: [stream],
    sendEncodings: [{ rid: 'a', scaleResolutionDownBy: 4 }, { rid: 'b' }],
  });
  const { sessionId } = await window.__call('POST', '/sessions/new');
  await pc.setLocalDescription(await pc.createOffer());
  const res = await window.__call('POST', `/sessions/${sessionId}/tracks/new`, {
    sessionDescription: { type: 'offer', sdp: pc.localDescription.sdp },
    tracks: [{ location: 'local', mid: t.mid, trackName: 'video' }],
  });
  for (const x of res.tracks) if (x.errorCode) throw new Error(`push: ${x.errorCode} ${x.errorDescription}`);
  await pc.setRemoteDescription(res.sessionDescription);
  window.__pub = pc;
  return { sessionId, answer: res.sessionDescription.sdp };
}

// Runs in the page: pulls the track with the SFU's offer, preferring `rid`.
async function pullInPage({ sessionId, rid }) {
  const { sessionId: own } = await window.__call('POST', '/sessions/new');
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  pc.addEventListener('track', (e) => {
    const element = document.createElement('video');
    element.autoplay = true;
    element.muted = true;
    element.srcObject = new MediaStream([e.track]);
    document.body.appendChild(element);
    element.play().catch(() => {});
  });
  const res = await window.__call('POST', `/sessions/${own}/tracks/new`, {
    tracks: [{ location: 'remote', sessionId, trackName: 'video', simulcast: { preferredRid: rid, ridNotAvailable: 'asciibetical' } }],
  });
  if (res.tracks[0].errorCode) throw new Error(`pull: ${res.tracks[0].errorCode} ${res.tracks[0].errorDescription}`);
  await pc.setRemoteDescription(res.sessionDescription);
  await pc.setLocalDescription(await pc.createAnswer());
  await window.__call('PUT', `/sessions/${own}/renegotiate`, { sessionDescription: { type: 'answer', sdp: pc.localDescription.sdp } });
  window.__sub = pc;
  return { sessionId: own, mid: res.tracks[0].mid };
}

async function videoIn(page) {
  return page.evaluate(async () => {
    let out = { framesDecoded: 0, frameWidth: 0, frameHeight: 0 };
    (await window.__sub.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        out = { framesDecoded: s.framesDecoded || 0, frameWidth: s.frameWidth || 0, frameHeight: s.frameHeight || 0 };
      }
    });
    return out;
  });
}

async function waitVideo(page, predicate, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await videoIn(page);
    if (predicate(last)) return last;
    await page.waitForTimeout(200);
  }
  throw new Error(`${what}; last inbound video: ${JSON.stringify(last)}`);
}

test('a subscriber gets the simulcast layer it prefers and switches with tracks/update', async ({ browser, browserName }) => {
  const s = sfu();
  const pubContext = await browser.newContext();
  const subContext = await browser.newContext();
  try {
    const pub = await pubContext.newPage();
    await pub.goto(`http://${s.http}/`);
    await pub.evaluate(setupInPage, { appId: s.appId, secret: s.secret });
    const pushed = await pub.evaluate(pushSimulcastInPage);
    expect(pushed.answer).toMatch(/a=simulcast:recv a;b/);

    const sub = await subContext.newPage();
    await sub.goto(`http://${s.http}/`);
    await sub.evaluate(setupInPage, { appId: s.appId, secret: s.secret });
    const pulled = await sub.evaluate(pullInPage, { sessionId: pushed.sessionId, rid: 'a' });

    const small = await waitVideo(sub, (v) => v.framesDecoded > 20 && v.frameWidth > 0, 'no video on layer a');
    const session = await pollSession(pulled.sessionId, (b) => b.tracks.length === 1);
    expect(session.tracks[0].simulcast).toEqual({ preferredRid: 'a', priorityOrdering: 'none', ridNotAvailable: 'asciibetical' });

    const before = (await api('GET', '/stats')).body.simulcast_switches;
    const updated = await sub.evaluate(({ id, mid, publisher }) => window.__call('PUT', `/sessions/${id}/tracks/update`, {
      tracks: [{ location: 'remote', mid, sessionId: publisher, trackName: 'video', simulcast: { preferredRid: 'b' } }],
    }), { id: pulled.sessionId, mid: pulled.mid, publisher: pushed.sessionId });
    expect(updated.tracks[0].errorCode).toBeUndefined();
    const large = await waitVideo(sub, (v) => v.frameWidth >= 2 * small.frameWidth, `the frame size stayed ${small.frameWidth}x${small.frameHeight} after switching to b`);
    // Decoding goes on after the switch.
    await waitVideo(sub, (v) => v.framesDecoded > large.framesDecoded + 30, 'video stalled after the switch');
    const after = (await api('GET', '/stats')).body.simulcast_switches;
    expect(after).toBeGreaterThan(before);
    console.log(`[${browserName}] simulcast: layer a ${small.frameWidth}x${small.frameHeight} (${small.framesDecoded} frames), then b ${large.frameWidth}x${large.frameHeight}; layer switches ${after - before}`);
  } finally {
    await pubContext.close();
    await subContext.close();
  }
});
