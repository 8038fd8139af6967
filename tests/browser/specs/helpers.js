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

// Runs in the page. The Calls flow of a publisher: a session created without an offer, then
// tracks/new with the first offer naming each sendonly transceiver's track by its kind
// ('audio', 'video'). Keeps the PeerConnection in window.__pub.
async function pushInPage({ appId, secret }) {
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
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  const transceivers = stream.getTracks().map((track) => pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] }));
  const { sessionId } = await call('POST', '/sessions/new');
  await pc.setLocalDescription(await pc.createOffer());
  const tracks = transceivers.map((t) => ({ location: 'local', mid: t.mid, trackName: t.sender.track.kind }));
  const res = await call('POST', `/sessions/${sessionId}/tracks/new`, {
    sessionDescription: { type: 'offer', sdp: pc.localDescription.sdp },
    tracks,
  });
  if (res.requiresImmediateRenegotiation) throw new Error('a push needs no renegotiation');
  for (const t of res.tracks) if (t.errorCode) throw new Error(`push of ${t.trackName}: ${t.errorCode} ${t.errorDescription}`);
  await pc.setRemoteDescription(res.sessionDescription);
  window.__pub = pc;
  return { sessionId, tracks: res.tracks };
}

// Runs in the page. The Calls flow of a subscriber without an offer of its own: a session
// created empty, tracks/new with remote tracks, the SFU's offer set as remote description,
// the answer sent with PUT renegotiate. Plays what arrives in <video>/<audio> elements and
// keeps the PeerConnection in window.__sub.
async function pullInPage({ appId, secret, sessionId, trackNames }) {
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
  const { sessionId: own } = await call('POST', '/sessions/new');
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  const remote = new MediaStream();
  pc.addEventListener('track', (e) => {
    remote.addTrack(e.track);
    const element = document.createElement(e.track.kind);
    element.autoplay = true;
    element.muted = true;
    element.srcObject = new MediaStream([e.track]);
    document.body.appendChild(element);
    element.play().catch(() => {});
  });
  const res = await call('POST', `/sessions/${own}/tracks/new`, {
    tracks: trackNames.map((trackName) => ({ location: 'remote', sessionId, trackName })),
  });
  if (!res.requiresImmediateRenegotiation) throw new Error(`expected an offer: ${JSON.stringify(res)}`);
  for (const t of res.tracks) if (t.errorCode) throw new Error(`pull of ${t.trackName}: ${t.errorCode} ${t.errorDescription}`);
  await pc.setRemoteDescription(res.sessionDescription);
  await pc.setLocalDescription(await pc.createAnswer());
  await call('PUT', `/sessions/${own}/renegotiate`, { sessionDescription: { type: 'answer', sdp: pc.localDescription.sdp } });
  window.__sub = pc;
  return { sessionId: own, tracks: res.tracks };
}

// Runs in the page: what getStats() says about the subscriber's inbound streams.
async function inboundInPage() {
  const stats = await window.__sub.getStats();
  const out = { connectionState: window.__sub.connectionState, video: null, audio: null };
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp') {
      out[s.kind] = {
        packetsReceived: s.packetsReceived || 0,
        framesDecoded: s.framesDecoded || 0,
        packetsLost: s.packetsLost || 0,
        codecId: s.codecId,
      };
    }
  });
  return out;
}

module.exports = {
  sfu, api, publishInPage, waitConnectedInPage, pollSession, pushInPage, pullInPage, inboundInPage,
};
