// Shared pieces of the browser specs: the sfu's addresses, API calls from Node, and the
// in-page code that publishes fake camera and microphone tracks through the Calls-style API.
const fs = require('node:fs');
const path = require('node:path');

function sfu() {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '..', '.sfu-state.json'), 'utf8'));
}

async function api(method, route, body) {
  const s = sfu();
  const res = await fetch(`http://${s.http}/v1/apps/${s.appId}${route}`, {
    method,
    headers: { Authorization: `Bearer ${s.secret}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

// Runs in the page. Publishes audio and video with a sendonly PeerConnection, and records
// the moments that matter: setRemoteDescription done, ICE connected, connection connected.
// `family` ('ipv4' | 'ipv6' | undefined) keeps only the answer's candidates of that family.
async function publishInPage({ appId, secret, family }) {
  const t0 = performance.now();
  const marks = {};
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  pc.addEventListener('iceconnectionstatechange', () => {
    if ((pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed') && !marks.iceConnected) {
      marks.iceConnected = performance.now();
    }
  });
  pc.addEventListener('connectionstatechange', () => {
    if (pc.connectionState === 'connected' && !marks.connected) marks.connected = performance.now();
  });
  await pc.setLocalDescription(await pc.createOffer());
  const res = await fetch(`/v1/apps/${appId}/sessions/new`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}` },
    body: JSON.stringify({ sessionDescription: { type: 'offer', sdp: pc.localDescription.sdp } }),
  });
  const json = await res.json();
  if (res.status !== 201) throw new Error(`sessions/new answered ${res.status}: ${JSON.stringify(json)}`);
  let sdp = json.sessionDescription.sdp;
  if (family) {
    const keep = (line) => {
      if (!line.startsWith('a=candidate:')) return true;
      const address = line.split(' ')[4];
      return family === 'ipv6' ? address.includes(':') : !address.includes(':');
    };
    sdp = sdp.split('\r\n').filter(keep).join('\r\n');
  }
  marks.setRemoteStart = performance.now();
  await pc.setRemoteDescription({ type: 'answer', sdp });
  marks.setRemoteDone = performance.now();
  window.__pc = pc;
  window.__marks = marks;
  window.__t0 = t0;
  return { sessionId: json.sessionId, answer: json.sessionDescription.sdp };
}

// Runs in the page: waits for connectionState 'connected' (or failure) and returns the
// timings and what getStats() says about the selected pair and the outbound streams.
async function waitConnectedInPage(timeoutMs) {
  const pc = window.__pc;
  const deadline = performance.now() + timeoutMs;
  while (pc.connectionState !== 'connected') {
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') throw new Error(`connectionState ${pc.connectionState}`);
    if (performance.now() > deadline) throw new Error(`not connected after ${timeoutMs} ms (ice ${pc.iceConnectionState}, connection ${pc.connectionState})`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const m = window.__marks;
  const stats = await pc.getStats();
  let pair = null;
  const outbound = [];
  const byId = new Map();
  stats.forEach((s) => byId.set(s.id, s));
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId);
    if (s.type === 'candidate-pair' && s.selected) pair = pair || s;
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = pair || s;
    if (s.type === 'outbound-rtp') outbound.push({ kind: s.kind, packetsSent: s.packetsSent });
  });
  const remote = pair ? byId.get(pair.remoteCandidateId) : null;
  return {
    connectionState: pc.connectionState,
    toIceConnectedMs: m.iceConnected - m.setRemoteStart,
    toConnectedMs: m.connected - m.setRemoteStart,
    remoteAddress: remote ? (remote.address || remote.ip) : null,
    outbound,
  };
}

async function pollSession(sessionId, predicate, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await api('GET', `/sessions/${sessionId}`);
    if (last.status === 200 && predicate(last.body)) return last.body;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`session ${sessionId} never satisfied the condition; last: ${JSON.stringify(last)}`);
}

module.exports = { sfu, api, publishInPage, waitConnectedInPage, pollSession };
