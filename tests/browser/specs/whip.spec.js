// WHIP and WHEP with plain fetch(), no SDK: a page publishes its fake camera and microphone
// with a WHIP POST (and trickles its candidates with PATCH), another page plays the stream
// with a WHEP POST (409 + Retry-After before anything is published), its video framesDecoded
// keeps growing; then DELETE on the WHIP resource ends the publisher's session, the
// player's media stops and the resource is gone (404). And an ICE restart through PATCH
// (RFC 9725 §4.3.2): the page PATCHes its new credentials, takes ours from the 200, and
// ICE connects again under them while the sfu keeps decrypting its media. In each browser.
const { test, expect } = require('@playwright/test');
const { sfu, api, pollSession } = require('./helpers');

// Runs in the page: a WHIP publisher. Keeps the PeerConnection and the resource in window.
async function whipPublishInPage({ url, secret }) {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  const candidates = [];
  let gathered;
  const done = new Promise((resolve) => { gathered = resolve; });
  pc.addEventListener('icecandidate', (e) => {
    if (e.candidate && e.candidate.candidate) candidates.push(e.candidate);
    if (!e.candidate) gathered();
  });
  await pc.setLocalDescription(await pc.createOffer());
  const res = await fetch(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/sdp' },
    body: pc.localDescription.sdp,
  });
  const answer = await res.text();
  if (res.status !== 201) throw new Error(`WHIP POST answered ${res.status}: ${answer}`);
  const location = new URL(res.headers.get('Location'), url).href;
  const etag = res.headers.get('ETag');
  const links = res.headers.get('Link');
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  // Trickle what was gathered, then say there is no more (RFC 9725 §4.3.1).
  await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
  const offer = pc.localDescription.sdp;
  const line = (prefix) => offer.split('\r\n').find((l) => l.startsWith(prefix));
  const mids = offer.split('\r\n').filter((l) => l.startsWith('a=mid:'));
  let fragment = `${line('a=ice-ufrag:')}\r\n${line('a=ice-pwd:')}\r\n${line('m=')}\r\n${mids[0]}\r\n`;
  for (const c of candidates.filter((c) => c.sdpMLineIndex === 0)) fragment += `a=${c.candidate}\r\n`;
  fragment += 'a=end-of-candidates\r\n';
  const patch = await fetch(location, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': etag },
    body: fragment,
  });
  window.__pub = pc;
  window.__whip = location;
  window.__answer = answer;
  window.__etag = etag;
  return {
    status: res.status,
    contentType: res.headers.get('Content-Type'),
    location,
    etag,
    links,
    patchStatus: patch.status,
    trickled: candidates.length,
  };
}

// Runs in the page: a WHEP player. Retries while the stream is not published (409), after
// the Retry-After the server gives, and returns what the first attempt was answered.
async function whepPlayInPage({ url, secret, attempts }) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  await pc.setLocalDescription(await pc.createOffer());
  const first = {};
  for (let i = 0; i < attempts; i++) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/sdp' },
      body: pc.localDescription.sdp,
    });
    const body = await res.text();
    if (i === 0) Object.assign(first, { status: res.status, retryAfter: res.headers.get('Retry-After'), body });
    if (res.status === 409) {
      const wait = Number(res.headers.get('Retry-After') || '1');
      if (i + 1 === attempts) return { first, status: 409 };
      await new Promise((r) => setTimeout(r, Math.min(wait, 2) * 1000));
      continue;
    }
    if (res.status !== 201) throw new Error(`WHEP POST answered ${res.status}: ${body}`);
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    window.__sub = pc;
    return {
      first,
      status: res.status,
      contentType: res.headers.get('Content-Type'),
      location: new URL(res.headers.get('Location'), url).href,
      etag: res.headers.get('ETag'),
    };
  }
  throw new Error('no attempt');
}

// Runs in the page: the player's inbound streams.
async function playerStatsInPage() {
  const stats = await window.__sub.getStats();
  const out = { connectionState: window.__sub.connectionState, video: null, audio: null };
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp') out[s.kind] = { packetsReceived: s.packetsReceived || 0, framesDecoded: s.framesDecoded || 0 };
  });
  return out;
}

async function waitFor(page, fn, predicate, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await page.evaluate(fn);
    if (predicate(last)) return last;
    await page.waitForTimeout(250);
  }
  throw new Error(`${what}; last: ${JSON.stringify(last)}`);
}

test('a page publishes with WHIP, another plays with WHEP, DELETE ends it', async ({ browser, browserName }) => {
  const s = sfu();
  const name = `cam-${browserName}-${Date.now()}`;
  const whipUrl = `http://${s.http}/v1/apps/${s.appId}/whip/${name}`;
  const whepUrl = `http://${s.http}/v1/apps/${s.appId}/whep/${name}`;
  const publisherContext = await browser.newContext();
  const playerContext = await browser.newContext();
  try {
    const publisher = await publisherContext.newPage();
    const player = await playerContext.newPage();
    await publisher.goto(`http://${s.http}/`);
    await player.goto(`http://${s.http}/`);

    // Nothing published yet: 409 with Retry-After, readable from the page (exposed by CORS).
    const early = await player.evaluate(whepPlayInPage, { url: whepUrl, secret: s.secret, attempts: 1 });
    expect(early.status).toBe(409);
    expect(early.first.retryAfter).toBe('2');
    expect(JSON.parse(early.first.body).errorCode).toBe('stream_not_published');

    const published = await publisher.evaluate(whipPublishInPage, { url: whipUrl, secret: s.secret });
    expect(published.status).toBe(201);
    expect(published.contentType).toBe('application/sdp');
    expect(published.location.startsWith(`${whipUrl}/`)).toBe(true);
    expect(published.etag).toMatch(/^"[0-9a-f]+"$/);
    // The sfu of these tests has a TURN key: the ICE servers come as Link headers.
    expect(published.links).toContain('rel="ice-server"');
    expect(published.links).toContain('turn:127.0.0.1:');
    expect(published.patchStatus).toBe(204);
    const publisherId = published.location.split('/').pop();
    await pollSession(publisherId, (b) => b.connectionState === 'connected'
      && b.tracks.map((t) => t.trackName).sort().join() === 'audio,video');

    const played = await player.evaluate(whepPlayInPage, { url: whepUrl, secret: s.secret, attempts: 5 });
    expect(played.status).toBe(201);
    expect(played.contentType).toBe('application/sdp');
    expect(played.location.startsWith(`${whepUrl}/`)).toBe(true);
    expect(played.etag).toMatch(/^"[0-9a-f]+"$/);
    const first = await waitFor(player, playerStatsInPage,
      (x) => x.video && x.video.framesDecoded > 10 && x.audio && x.audio.packetsReceived > 0,
      'no video frame decoded or no audio packet');
    const later = await waitFor(player, playerStatsInPage,
      (x) => x.video.framesDecoded > first.video.framesDecoded + 30, 'video decoding stalled');
    console.log(`[${browserName}] WHEP player decoded ${later.video.framesDecoded} frames, ${later.audio.packetsReceived} audio packets, trickled ${published.trickled} candidates`);
    const playerId = played.location.split('/').pop();
    const session = await pollSession(playerId, (b) => b.tracks.length === 2 && b.tracks.every((t) => t.status === 'active'));
    expect(session.tracks.every((t) => t.location === 'remote' && t.sessionId === publisherId)).toBe(true);

    // DELETE the WHIP resource from the publisher's page: 200, the session is gone, the
    // player's tracks go inactive and its decoder stops getting frames.
    const deleted = await publisher.evaluate(async ({ secret }) => {
      const del = await fetch(window.__whip, { method: 'DELETE', headers: { Authorization: `Bearer ${secret}` } });
      const again = await fetch(window.__whip, { method: 'DELETE', headers: { Authorization: `Bearer ${secret}` } });
      return { status: del.status, again: again.status };
    }, { secret: s.secret });
    expect(deleted).toEqual({ status: 200, again: 404 });
    expect((await api('GET', `/sessions/${publisherId}`)).status).toBe(404);
    await pollSession(playerId, (b) => b.tracks.every((t) => t.status === 'inactive'));
    // The sfu closes the publisher's DTLS transport (close_notify) at once.
    const dtls = await waitFor(publisher, () => {
      const transport = window.__pub.getSenders()[0].transport;
      return transport ? transport.state : 'none';
    }, (state) => state === 'closed', 'the publisher\'s DTLS transport stayed open after DELETE', 10_000);
    const state = await publisher.evaluate(() => window.__pub.connectionState);
    console.log(`[${browserName}] publisher after DELETE: DTLS transport ${dtls}, connectionState ${state}`);
    const stopped = await player.evaluate(playerStatsInPage);
    await player.waitForTimeout(1500);
    const after = await player.evaluate(playerStatsInPage);
    expect(after.video.framesDecoded - stopped.video.framesDecoded).toBeLessThanOrEqual(1);
    // The stream name is free again; the player's resource still answers until deleted.
    const player404 = await player.evaluate(async ({ url, secret }) => {
      const res = await fetch(url, { method: 'DELETE', headers: { Authorization: `Bearer ${secret}` } });
      const again = await fetch(url, { method: 'DELETE', headers: { Authorization: `Bearer ${secret}` } });
      return [res.status, again.status];
    }, { url: played.location, secret: s.secret });
    expect(player404).toEqual([200, 404]);
  } finally {
    await publisherContext.close();
    await playerContext.close();
  }
});

test('a WHIP publisher restarts ICE through PATCH', async ({ page, browserName }) => {
  const s = sfu();
  const name = `restart-${browserName}-${Date.now()}`;
  const whipUrl = `http://${s.http}/v1/apps/${s.appId}/whip/${name}`;
  await page.goto(`http://${s.http}/`);
  const published = await page.evaluate(whipPublishInPage, { url: whipUrl, secret: s.secret });
  const sessionId = published.location.split('/').pop();
  const before = await pollSession(sessionId, (b) => b.connectionState === 'connected' && b.stats.rtp_decrypted > 20);

  const restarted = await page.evaluate(async ({ secret }) => {
    const pc = window.__pub;
    const line = (sdp, prefix) => sdp.split('\r\n').find((l) => l.startsWith(prefix));
    pc.restartIce();
    await pc.setLocalDescription(await pc.createOffer());
    const offer = pc.localDescription.sdp;
    const fragment = `${line(offer, 'a=ice-ufrag:')}\r\n${line(offer, 'a=ice-pwd:')}\r\n${line(offer, 'm=')}\r\n${line(offer, 'a=mid:')}\r\n`;
    const headers = { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/trickle-ice-sdpfrag' };
    const res = await fetch(window.__whip, { method: 'PATCH', headers: { ...headers, 'If-Match': '*' }, body: fragment });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`PATCH answered ${res.status}: ${body}`);
    const etag = res.headers.get('ETag');
    // Our new credentials go into the answer the page already has.
    const answer = window.__answer
      .replace(/a=ice-ufrag:.*\r\n/g, `${line(body, 'a=ice-ufrag:')}\r\n`)
      .replace(/a=ice-pwd:.*\r\n/g, `${line(body, 'a=ice-pwd:')}\r\n`);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    const stale = await fetch(window.__whip, { method: 'PATCH', headers: { ...headers, 'If-Match': window.__etag }, body: 'a=end-of-candidates\r\n' });
    const fresh = await fetch(window.__whip, { method: 'PATCH', headers: { ...headers, 'If-Match': etag }, body: 'a=end-of-candidates\r\n' });
    const ownUfrag = line(offer, 'a=ice-ufrag:').slice(12);
    // Done when the selected pair is one checked under the new credentials.
    const deadline = performance.now() + 15_000;
    let seen = null;
    while (performance.now() < deadline) {
      const stats = await pc.getStats();
      let pair = null;
      stats.forEach((x) => { if (x.type === 'transport' && x.selectedCandidatePairId) pair = stats.get(x.selectedCandidatePairId); });
      stats.forEach((x) => { if (!pair && x.type === 'candidate-pair' && x.selected) pair = x; });
      const local = pair && stats.get(pair.localCandidateId);
      seen = local ? local.usernameFragment : null;
      if (pc.iceConnectionState === 'connected' && local && local.usernameFragment === ownUfrag) {
        return { body, etag, stale: stale.status, fresh: fresh.status, ownUfrag, connection: pc.connectionState };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no pair under the new credentials (${ownUfrag}); selected pair's ufrag ${seen}, ICE ${pc.iceConnectionState}`);
  }, { secret: s.secret });

  expect(restarted.body.split('\r\n')[0]).toBe('a=ice-lite');
  expect(restarted.body).toContain('a=end-of-candidates');
  expect(restarted.etag).not.toEqual(published.etag);
  expect(restarted.stale).toBe(412);
  expect(restarted.fresh).toBe(204);
  expect(restarted.connection).toBe('connected');
  const after = await pollSession(sessionId, (b) => b.connectionState === 'connected' && b.stats.rtp_decrypted > before.stats.rtp_decrypted + 100);
  expect(after.stats.srtp_auth_failed).toBe(0);
  console.log(`[${browserName}] WHIP ICE restart: new ufrag ${restarted.ownUfrag}; decrypted ${before.stats.rtp_decrypted} -> ${after.stats.rtp_decrypted}`);
  await page.evaluate(async ({ secret }) => fetch(window.__whip, { method: 'DELETE', headers: { Authorization: `Bearer ${secret}` } }), { secret: s.secret });
});
