// The NACK shield with real browsers: every datagram between the browsers and the sfu goes
// through a UDP relay in this test process (127.0.0.1 only) that drops 4% of RTP packets in
// each direction (never STUN, DTLS or RTCP). A page publishes, another pulls, through the
// relay. Upstream loss makes the sfu NACK the publisher and forward the repaired packets;
// downstream loss makes the subscriber NACK the sfu, which answers from its packet cache
// (RTX where negotiated). The subscriber's video keeps decoding. Counters are printed.
const dgram = require('node:dgram');
const { test, expect } = require('@playwright/test');
const { sfu, api, inboundInPage } = require('./helpers');

const LOSS = 0.04;

// RTP, not RTCP (RFC 5761 §4: RTCP packet types 192..223 in the second octet).
function isRtp(msg) {
  return msg.length >= 12 && msg[0] >= 128 && msg[0] < 192 && !((msg[1] & 0x7f) >= 64 && (msg[1] & 0x7f) < 96);
}

// One socket toward the browsers; one socket toward the sfu per browser address.
async function startRelay(target) {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const front = dgram.createSocket('udp4');
  const counts = { up: 0, upDropped: 0, down: 0, downDropped: 0 };
  const backs = new Map();
  front.on('message', (msg, rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    let back = backs.get(key);
    if (!back) {
      back = dgram.createSocket('udp4');
      back.bind(0, '127.0.0.1');
      back.on('message', (reply) => {
        if (isRtp(reply)) {
          counts.down += 1;
          if (Math.random() < LOSS) { counts.downDropped += 1; return; }
        }
        front.send(reply, rinfo.port, rinfo.address);
      });
      backs.set(key, back);
    }
    if (isRtp(msg)) {
      counts.up += 1;
      if (Math.random() < LOSS) { counts.upDropped += 1; return; }
    }
    back.send(msg, port, host);
  });
  await new Promise((resolve) => front.bind(0, '127.0.0.1', resolve));
  return {
    port: front.address().port,
    counts,
    close() { front.close(); for (const b of backs.values()) b.close(); },
  };
}

// Runs in the page: keeps only the sfu's IPv4 host candidate, moved to the relay's port.
function viaRelay(sdp, relayPort) {
  return sdp.split('\r\n').filter((line) => !line.startsWith('a=candidate:') || !line.split(' ')[4].includes(':'))
    .map((line) => (line.startsWith('a=candidate:')
      ? line.split(' ').map((f, i) => (i === 5 ? String(relayPort) : f)).join(' ') : line))
    .join('\r\n');
}

// Runs in the page: publishes camera and microphone through the relay.
async function pushViaRelay({ appId, secret, relayPort, viaRelaySource }) {
  const rewrite = new Function(`return (${viaRelaySource})`)();
  const call = async (method, path, body) => {
    const res = await fetch(`/v1/apps/${appId}${path}`, {
      method, headers: { Authorization: `Bearer ${secret}` }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  };
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  const transceivers = stream.getTracks().map((track) => pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] }));
  const { sessionId } = await call('POST', '/sessions/new');
  await pc.setLocalDescription(await pc.createOffer());
  const res = await call('POST', `/sessions/${sessionId}/tracks/new`, {
    sessionDescription: { type: 'offer', sdp: pc.localDescription.sdp },
    tracks: transceivers.map((t) => ({ location: 'local', mid: t.mid, trackName: t.sender.track.kind })),
  });
  await pc.setRemoteDescription({ type: 'answer', sdp: rewrite(res.sessionDescription.sdp, relayPort) });
  window.__pub = pc;
  return { sessionId };
}

// Runs in the page: pulls through the relay.
async function pullViaRelay({ appId, secret, sessionId, relayPort, viaRelaySource }) {
  const rewrite = new Function(`return (${viaRelaySource})`)();
  const call = async (method, path, body) => {
    const res = await fetch(`/v1/apps/${appId}${path}`, {
      method, headers: { Authorization: `Bearer ${secret}` }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  };
  const { sessionId: own } = await call('POST', '/sessions/new');
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  pc.addEventListener('track', (e) => {
    const element = document.createElement(e.track.kind);
    element.autoplay = true;
    element.muted = true;
    element.srcObject = new MediaStream([e.track]);
    document.body.appendChild(element);
    element.play().catch(() => {});
  });
  const res = await call('POST', `/sessions/${own}/tracks/new`, {
    tracks: ['video', 'audio'].map((trackName) => ({ location: 'remote', sessionId, trackName })),
  });
  await pc.setRemoteDescription({ type: 'offer', sdp: rewrite(res.sessionDescription.sdp, relayPort) });
  await pc.setLocalDescription(await pc.createAnswer());
  await call('PUT', `/sessions/${own}/renegotiate`, { sessionDescription: { type: 'answer', sdp: pc.localDescription.sdp } });
  window.__sub = pc;
  return { sessionId: own };
}

async function subscriberNacksInPage() {
  const stats = await window.__sub.getStats();
  let out = null;
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out = { nackCount: s.nackCount, packetsLost: s.packetsLost, framesDecoded: s.framesDecoded, retransmitted: s.retransmittedPacketsReceived };
    }
  });
  return out;
}

test('lost packets are repaired both ways through the sfu', async ({ browser, browserName }) => {
  const s = sfu();
  const target = s.udp.find((a) => !a.startsWith('['));
  const relay = await startRelay(target);
  const publisherContext = await browser.newContext();
  const subscriberContext = await browser.newContext();
  try {
    const publisherPage = await publisherContext.newPage();
    const subscriberPage = await subscriberContext.newPage();
    await publisherPage.goto(`http://${s.http}/`);
    await subscriberPage.goto(`http://${s.http}/`);
    const { body: before } = await api('GET', '/stats');
    const args = { appId: s.appId, secret: s.secret, relayPort: relay.port, viaRelaySource: viaRelay.toString() };
    const { sessionId } = await publisherPage.evaluate(pushViaRelay, args);
    await subscriberPage.evaluate(pullViaRelay, { ...args, sessionId });

    const deadline = Date.now() + 30_000;
    let first;
    for (;;) {
      first = await subscriberPage.evaluate(inboundInPage);
      if (first.video && first.video.framesDecoded > 10) break;
      if (Date.now() > deadline) throw new Error(`no video decoded through the relay: ${JSON.stringify(first)}`);
      await subscriberPage.waitForTimeout(250);
    }
    await subscriberPage.waitForTimeout(10_000);
    const later = await subscriberPage.evaluate(inboundInPage);
    const nacks = await subscriberPage.evaluate(subscriberNacksInPage);
    const { body: stats } = await api('GET', '/stats');
    const delta = (k) => stats[k] - (before[k] || 0);
    const label = `${browserName} -> ${browserName}`;
    console.log(`[${label}] relay: RTP up ${relay.counts.up} (dropped ${relay.counts.upDropped}), down ${relay.counts.down} (dropped ${relay.counts.downDropped})`);
    console.log(`[${label}] subscriber video: ${JSON.stringify(nacks)}, frames decoded ${first.video.framesDecoded} -> ${later.video.framesDecoded}`);
    const shown = ['nacks_sent', 'nack_sequences_sent', 'nack_given_up', 'rtx_received', 'rtx_recovered', 'rtx_duplicates',
      'rtp_dropped_rtx', 'nacks_received', 'nack_cache_hits', 'nack_cache_misses', 'rtx_sent', 'retransmissions_sent',
      'keyframe_requests_sent', 'keyframe_requests_received'];
    console.log(`[${label}] sfu: ${shown.map((k) => `${k}=${delta(k)}`).join(' ')}`);

    expect(relay.counts.upDropped).toBeGreaterThan(0);
    expect(relay.counts.downDropped).toBeGreaterThan(0);
    // Upstream: the sfu asked, the publisher resent, the sfu forwarded the repairs.
    expect(delta('nacks_sent')).toBeGreaterThan(0);
    expect(delta('rtx_recovered')).toBeGreaterThan(0);
    // Downstream: the subscriber asked, the cache answered.
    expect(delta('nacks_received')).toBeGreaterThan(0);
    expect(delta('nack_cache_hits')).toBeGreaterThan(0);
    expect(delta('rtx_sent') + delta('retransmissions_sent')).toBeGreaterThan(0);
    expect(later.video.framesDecoded).toBeGreaterThan(first.video.framesDecoded + 50);
  } finally {
    await publisherContext.close();
    await subscriberContext.close();
    relay.close();
  }
});
