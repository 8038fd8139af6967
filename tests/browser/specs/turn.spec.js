// The turn binary relays a browser's media to the sfu: each browser publishes audio and
// video with iceTransportPolicy 'relay', through credentials minted by the sfu's TURN API
// (generate-ice-servers) and checked by the turn server with the shared secret. The
// selected local candidate must be a relay candidate of the transport under test, and the
// sfu's counters must show the session's SRTP decrypted. UDP, TCP and TLS, in both browsers.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test, expect } = require('@playwright/test');
const { sfu, pollSession } = require('./helpers');

// Runs in the page: TURN credentials from the sfu's API, a relay-only PeerConnection using
// only the URLs of `transport` ('udp' | 'tcp' | 'tls'), and a publish through sessions/new.
async function publishThroughRelayInPage({ appId, secret, turnKeyId, turnSecret, transport, tlsHost }) {
  const res = await fetch(`/v1/turn/keys/${turnKeyId}/credentials/generate-ice-servers`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${turnSecret}` },
    body: JSON.stringify({ ttl: 600 }),
  });
  const minted = await res.json();
  if (res.status !== 201) throw new Error(`generate-ice-servers answered ${res.status}: ${JSON.stringify(minted)}`);
  const server = minted.iceServers.find((s) => s.username);
  const scheme = transport === 'tls' ? 'turns:' : 'turn:';
  const suffix = `?transport=${transport === 'udp' ? 'udp' : 'tcp'}`;
  let urls = server.urls.filter((u) => u.startsWith(scheme) && u.endsWith(suffix));
  if (tlsHost) urls = urls.map((u) => u.replace('127.0.0.1', tlsHost));
  if (urls.length === 0) throw new Error(`no ${transport} URL in ${JSON.stringify(server.urls)}`);
  const pc = new RTCPeerConnection({
    iceServers: [{ urls, username: server.username, credential: server.credential }],
    iceTransportPolicy: 'relay',
    bundlePolicy: 'max-bundle',
  });
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  await pc.setLocalDescription(await pc.createOffer());
  const session = await fetch(`/v1/apps/${appId}/sessions/new`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}` },
    body: JSON.stringify({ sessionDescription: { type: 'offer', sdp: pc.localDescription.sdp } }),
  });
  const json = await session.json();
  if (session.status !== 201) throw new Error(`sessions/new answered ${session.status}: ${JSON.stringify(json)}`);
  // The relay has an IPv4 address: keep the sfu's IPv4 candidate only.
  const sdp = json.sessionDescription.sdp.split('\r\n')
    .filter((l) => !l.startsWith('a=candidate:') || !l.split(' ')[4].includes(':'))
    .join('\r\n');
  const t0 = performance.now();
  await pc.setRemoteDescription({ type: 'answer', sdp });
  window.__pc = pc;
  window.__t0 = t0;
  return { sessionId: json.sessionId, urls };
}

// Runs in the page: waits for 'connected' and reports the selected pair's candidates.
async function selectedPairInPage(timeoutMs) {
  const pc = window.__pc;
  const deadline = performance.now() + timeoutMs;
  while (pc.connectionState !== 'connected') {
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') throw new Error(`connectionState ${pc.connectionState}`);
    if (performance.now() > deadline) throw new Error(`not connected after ${timeoutMs} ms (ice ${pc.iceConnectionState}, connection ${pc.connectionState})`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const connectedMs = performance.now() - window.__t0;
  const stats = await pc.getStats();
  const byId = new Map();
  stats.forEach((s) => byId.set(s.id, s));
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId);
  });
  stats.forEach((s) => {
    if (!pair && s.type === 'candidate-pair' && s.selected) pair = s;
  });
  stats.forEach((s) => {
    if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  const local = pair ? byId.get(pair.localCandidateId) : null;
  const remote = pair ? byId.get(pair.remoteCandidateId) : null;
  return {
    connectedMs,
    localType: local && local.candidateType,
    relayProtocol: local && local.relayProtocol,
    localAddress: local && (local.address || local.ip),
    remoteAddress: remote && (remote.address || remote.ip),
  };
}

async function relayTest(page, browserName, transport, tlsHost) {
  const s = sfu();
  await page.goto(`http://${s.http}/`);
  const { sessionId, urls } = await page.evaluate(publishThroughRelayInPage, {
    appId: s.appId, secret: s.secret, turnKeyId: s.turn.keyId, turnSecret: s.turn.secret, transport, tlsHost,
  });
  const pair = await page.evaluate(selectedPairInPage, 20_000);
  console.log(`[${browserName} ${transport}] ${urls.join(' ')}: connected in ${pair.connectedMs.toFixed(1)} ms over ${JSON.stringify(pair)}`);
  expect(pair.localType).toBe('relay');
  expect(pair.localAddress).toBe('127.0.0.1');
  expect(pair.remoteAddress).toBe('127.0.0.1');
  if (pair.relayProtocol !== undefined) expect(pair.relayProtocol).toBe(transport);
  // The sfu decrypted this session's SRTP, arriving from the relay, and it keeps coming.
  const first = await pollSession(sessionId, (b) => b.connectionState === 'connected' && b.stats.rtp_decrypted > 50);
  const later = await pollSession(sessionId, (b) => b.stats.rtp_decrypted > first.stats.rtp_decrypted + 50);
  expect(later.stats.srtp_auth_failed).toBe(0);
  console.log(`[${browserName} ${transport}] sfu decrypted ${later.stats.rtp_decrypted} RTP packets relayed by turn`);
}

for (const transport of ['udp', 'tcp']) {
  test(`publishes through the TURN relay over ${transport}`, async ({ page, browserName }) => {
    await relayTest(page, browserName, transport);
  });
}

// TLS: the turn server's certificate is self-signed (made by global-setup.js for 'localhost'),
// and browsers check it. Chromium accepts it when launched with --ignore-certificate-errors,
// which its TURN TLS sockets honour. Firefox ignores acceptInsecureCerts for TURN TLS (and
// a certificate marked only as a trusted peer), so it runs with a fresh profile whose
// certificate database holds this certificate as a trust anchor (certutil -t C,,, from
// Debian's libnss3-tools). The URL names 'localhost', as the certificate does
// (Chromium does not try turns: with an IP literal).
test('publishes through the TURN relay over tls', async ({ browserName }) => {
  const { chromium, firefox } = require('@playwright/test');
  const { chromiumArgs, launchOptions } = require('../browsers');
  const s = sfu();
  let context;
  let profile;
  if (browserName === 'chromium') {
    const browser = await chromium.launch({ ...launchOptions.chromium, args: [...chromiumArgs, '--ignore-certificate-errors'] });
    context = await browser.newContext();
    context.on('close', () => browser.close());
  } else {
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'turn-firefox-'));
    execFileSync('certutil', ['-N', '-d', `sql:${profile}`, '--empty-password']);
    execFileSync('certutil', ['-A', '-n', 'turn-test', '-t', 'C,,', '-i', s.turn.cert, '-d', `sql:${profile}`]);
    context = await firefox.launchPersistentContext(profile, launchOptions.firefox);
  }
  try {
    const page = await context.newPage();
    await relayTest(page, browserName, 'tls', 'localhost');
  } finally {
    await context.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
  }
});
