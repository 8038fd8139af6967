// Helpers for the demo page, browser tests and manual checks: window.sfu.
//
//   const p = await sfu.publish({ secret: "...", audio: true, video: true });
//   await p.connected;            // resolves when connectionState is "connected"
//   p.marks                      // performance.now() times: start, offerCreated,
//                                // answerReceived, remoteDescriptionSet, iceConnected, connected
//   await sfu.getSession({ secret, sessionId: p.sessionId })
"use strict";
(function () {
  const statusLine = () => document.getElementById("status");

  function setStatus(text) {
    const line = statusLine();
    if (line) line.textContent = text;
  }

  // One API call: JSON in, JSON out; throws with the server's errorCode/errorDescription.
  async function api({ apiBase = location.origin, appId = "default", secret }, method, path, body) {
    const url = `${apiBase}/v1/apps/${encodeURIComponent(appId)}/${path}`;
    const init = { method, headers: { Authorization: `Bearer ${secret}` } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const json = await response.json();
    if (!response.ok) {
      const error = new Error(`${method} ${path}: ${response.status} ${json.errorCode}: ${json.errorDescription}`);
      error.status = response.status;
      error.body = json;
      throw error;
    }
    return json;
  }

  // Resolves when the PeerConnection is connected, rejects on failed/closed or after timeoutMs.
  function whenConnected(pc, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pc.connectionState === "connected") {
          done();
          resolve();
        } else if (pc.connectionState === "failed" || pc.connectionState === "closed") {
          done();
          reject(new Error(`connectionState ${pc.connectionState}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`not connected after ${timeoutMs} ms (state ${pc.connectionState})`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        pc.removeEventListener("connectionstatechange", check);
      };
      pc.addEventListener("connectionstatechange", check);
      check();
    });
  }

  // Captures media, sends it on a sendonly PeerConnection to a new session.
  async function publish({ apiBase, appId, secret, audio = true, video = true, iceServers = [], timeoutMs } = {}) {
    const marks = { start: performance.now() };
    const options = { apiBase, appId, secret };
    setStatus("getUserMedia");
    const stream = await navigator.mediaDevices.getUserMedia({ audio, video });
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    for (const track of stream.getTracks()) {
      pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    }
    pc.addEventListener("iceconnectionstatechange", () => {
      if (pc.iceConnectionState === "connected" && marks.iceConnected === undefined) {
        marks.iceConnected = performance.now();
      }
      setStatus(`ICE ${pc.iceConnectionState}, connection ${pc.connectionState}`);
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "connected" && marks.connected === undefined) {
        marks.connected = performance.now();
      }
      setStatus(`ICE ${pc.iceConnectionState}, connection ${pc.connectionState}`);
    });
    const connected = whenConnected(pc, timeoutMs);
    connected.catch(() => {}); // observed by the caller; avoid an unhandled rejection
    await pc.setLocalDescription(await pc.createOffer());
    marks.offerCreated = performance.now();
    setStatus("POST sessions/new");
    // The server is ICE-lite: it learns our addresses from our checks, so there is no need
    // to wait for candidate gathering or to trickle candidates.
    const created = await api(options, "POST", "sessions/new", {
      sessionDescription: { type: "offer", sdp: pc.localDescription.sdp },
    });
    marks.answerReceived = performance.now();
    await pc.setRemoteDescription(created.sessionDescription);
    marks.remoteDescriptionSet = performance.now();
    setStatus(`session ${created.sessionId}: connecting`);
    const close = () => {
      for (const track of stream.getTracks()) track.stop();
      pc.close();
    };
    return { pc, stream, sessionId: created.sessionId, marks, connected, close };
  }

  // GET sessions/{id}.
  function getSession({ apiBase, appId, secret, sessionId }) {
    return api({ apiBase, appId, secret }, "GET", `sessions/${sessionId}`);
  }

  // GET stats (driver-wide counters).
  function getStats({ apiBase, appId, secret }) {
    return api({ apiBase, appId, secret }, "GET", "stats");
  }

  window.sfu = { api, publish, getSession, getStats, whenConnected, setStatus };
  setStatus("ready");
})();
