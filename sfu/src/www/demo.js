// The demo page: people in the same room see and hear each other through the sfu.
//
// 1. GET /demo/config gives this page the app id and secret (only when the page is loaded
//    from the sfu's own machine, unless the sfu runs with --demo public).
// 2. Camera and microphone go out on one sendonly PeerConnection: POST sessions/new, then
//    tracks/new with the offer, one track named after its kind ("audio", "video").
// 3. POST /demo/rooms/{room}/join puts that session in the room directory. Every
//    heartbeatMs a heartbeat (carrying the mute state) returns who is in the room.
// 4. For each other participant, a receive-only PeerConnection of its own pulls their
//    tracks: tracks/new with remote tracks returns the SFU's offer, the answer goes back with
//    PUT renegotiate. When they leave, that PeerConnection is closed and their tile removed.
//
// window.demo exposes the state and inboundStats() for tests and the curious.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const setStatus = (text) => window.sfu.setStatus(text);
  const RETRY_MS = 3000;

  let config = null; // {appId, appSecret, heartbeatMs, ...} from /demo/config
  let call = null; // the room we are in, see join()

  // One call to the room directory; throws an Error with .status and .code.
  async function directory(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(`/demo/${path}`, init);
    const json = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(json.errorDescription || `${method} /demo/${path}: HTTP ${response.status}`);
      error.status = response.status;
      error.code = json.errorCode;
      throw error;
    }
    return json;
  }

  // One call to the Calls-style API.
  function api(method, path, body) {
    return window.sfu.api({ appId: config.appId, secret: config.appSecret }, method, path, body);
  }

  // Camera and microphone, or whichever of them exists, or nothing (then we only watch).
  async function captureMedia() {
    if (!navigator.mediaDevices) {
      throw new Error("camera and microphone need a secure context: open this page on the machine the sfu runs on (127.0.0.1 or localhost), or over HTTPS");
    }
    const video = { width: { ideal: 640 }, height: { ideal: 480 } };
    for (const constraints of [{ audio: true, video }, { audio: true }, { video }]) {
      try {
        return await navigator.mediaDevices.getUserMedia(constraints);
      } catch (e) {
        console.warn("getUserMedia", constraints, e);
      }
    }
    return new MediaStream();
  }

  // Pushes every track of `stream` into a new session; returns {pc, sessionId, trackNames}.
  async function publish(stream) {
    const { sessionId } = await api("POST", "sessions/new");
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    const transceivers = stream.getTracks().map((track) =>
      pc.addTransceiver(track, { direction: "sendonly", streams: [stream] }));
    if (transceivers.length === 0) return { pc, sessionId, trackNames: [] };
    await pc.setLocalDescription(await pc.createOffer());
    const res = await api("POST", `sessions/${sessionId}/tracks/new`, {
      sessionDescription: { type: "offer", sdp: pc.localDescription.sdp },
      tracks: transceivers.map((t) => ({ location: "local", mid: t.mid, trackName: t.sender.track.kind })),
    });
    for (const t of res.tracks) {
      if (t.errorCode) throw new Error(`publishing ${t.trackName}: ${t.errorDescription}`);
    }
    await pc.setRemoteDescription(res.sessionDescription);
    return { pc, sessionId, trackNames: res.tracks.map((t) => t.trackName) };
  }

  // A video tile: {root, video, name, flags, state}.
  function makeTile(label, local) {
    const root = document.createElement("div");
    root.className = local ? "tile local" : "tile remote";
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = local; // our own sound would echo
    const avatar = document.createElement("div");
    avatar.className = "avatar";
    avatar.textContent = initial(label);
    const state = document.createElement("div");
    state.className = "state";
    const bar = document.createElement("div");
    bar.className = "label";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = label;
    const flags = document.createElement("span");
    flags.className = "flags";
    bar.append(name, flags);
    root.append(video, avatar, state, bar);
    return { root, video, avatar, name, flags, state };
  }

  const initial = (name) => (name.trim()[0] || "?").toUpperCase();

  function setName(tile, label) {
    if (tile.name.textContent === label) return;
    tile.name.textContent = label;
    tile.avatar.textContent = initial(label);
  }

  // "mic off" / "camera off" badges; a camera that is off shows the initial instead.
  function setFlags(tile, audioMuted, videoMuted) {
    tile.root.classList.toggle("video-off", videoMuted);
    const wanted = [audioMuted && "mic off", videoMuted && "camera off"].filter(Boolean);
    const shown = [...tile.flags.children].map((c) => c.textContent);
    if (wanted.join() === shown.join()) return;
    tile.flags.replaceChildren(...wanted.map((text) => {
      const flag = document.createElement("span");
      flag.className = "flag";
      flag.textContent = text;
      return flag;
    }));
    tile.root.dataset.audioMuted = String(audioMuted);
    tile.root.dataset.videoMuted = String(videoMuted);
  }

  function play(video) {
    const attempt = video.play();
    if (attempt) attempt.catch(() => {}); // retried by autoplay once allowed
  }

  // Another participant: its tile, and a PeerConnection that pulls its tracks.
  function addRemote(participant) {
    const tile = makeTile(participant.name || "guest", false);
    tile.root.dataset.session = participant.sessionId;
    const remote = { participant, tile, pc: null, tracks: [], closed: false, failedAt: null };
    call.remotes.set(participant.sessionId, remote);
    $("grid").append(tile.root);
    tile.state.textContent = "connecting";
    subscribe(remote).catch((e) => {
      if (remote.closed) return;
      console.warn("pull", participant.sessionId, e);
      remote.failedAt = performance.now();
      tile.state.textContent = `could not connect (${e.message}); retrying`;
    });
  }

  async function subscribe(remote) {
    const { participant, tile } = remote;
    if (participant.tracks.length === 0) {
      tile.state.textContent = "no camera or microphone";
      return;
    }
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    remote.pc = pc;
    pc.addEventListener("track", (event) => {
      remote.tracks.push(event.track);
      tile.video.srcObject = new MediaStream(remote.tracks);
      play(tile.video);
    });
    pc.addEventListener("connectionstatechange", () => {
      const state = pc.connectionState;
      tile.state.textContent = state === "connected" ? "" : state;
      if (state === "failed") remote.failedAt = performance.now();
    });
    const { sessionId } = await api("POST", "sessions/new");
    remote.sessionId = sessionId;
    const res = await api("POST", `sessions/${sessionId}/tracks/new`, {
      tracks: participant.tracks.map((trackName) => ({ location: "remote", sessionId: participant.sessionId, trackName })),
    });
    const failed = res.tracks.filter((t) => t.errorCode);
    if (failed.length === res.tracks.length) throw new Error(failed[0].errorDescription);
    if (!res.requiresImmediateRenegotiation) throw new Error("the sfu sent no offer");
    await pc.setRemoteDescription(res.sessionDescription);
    await pc.setLocalDescription(await pc.createAnswer());
    await api("PUT", `sessions/${sessionId}/renegotiate`, {
      sessionDescription: { type: "answer", sdp: pc.localDescription.sdp },
    });
  }

  function removeRemote(remote) {
    remote.closed = true;
    if (remote.pc) remote.pc.close();
    for (const track of remote.tracks) track.stop();
    remote.tile.video.srcObject = null;
    remote.tile.root.remove();
    call.remotes.delete(remote.participant.sessionId);
  }

  // Makes the tiles match the room directory's list.
  function sync(participants) {
    const present = new Set();
    for (const p of participants) {
      if (p.sessionId === call.sessionId) continue;
      present.add(p.sessionId);
      let remote = call.remotes.get(p.sessionId);
      const retry = remote && remote.failedAt !== null && performance.now() - remote.failedAt > RETRY_MS;
      if (retry || (remote && remote.participant.tracks.join() !== p.tracks.join())) {
        removeRemote(remote);
        remote = null;
      }
      if (!remote) {
        addRemote(p);
        remote = call.remotes.get(p.sessionId);
      }
      remote.participant = p;
      setName(remote.tile, p.name || "guest");
      setFlags(remote.tile, p.audioMuted, p.videoMuted);
    }
    for (const remote of [...call.remotes.values()]) {
      if (!present.has(remote.participant.sessionId)) removeRemote(remote);
    }
    const others = call.remotes.size;
    const lost = call.pc && call.pc.connectionState === "failed";
    setStatus(lost
      ? "lost the connection to the sfu: leave and join again"
      : `in room ${call.room} with ${others} other${others === 1 ? "" : "s"}`);
  }

  const muted = (kind) => call.stream.getTracks().some((t) => t.kind === kind && !t.enabled);

  // One heartbeat (or, for a participant without media, one look at the room), then the
  // next one.
  async function tick(current) {
    if (call !== current) return;
    try {
      let res;
      if (current.participantId) {
        try {
          res = await directory("POST", `rooms/${current.room}/heartbeat`, {
            participantId: current.participantId,
            audioMuted: muted("audio"),
            videoMuted: muted("video"),
          });
        } catch (e) {
          if (e.status !== 404) throw e;
          // Forgotten (the tab slept through the timeout): join again.
          res = await joinDirectory(current);
        }
      } else {
        res = await directory("GET", `rooms/${current.room}`);
      }
      if (call === current) sync(res.participants);
    } catch (e) {
      if (call === current) setStatus(`room directory: ${e.message}`);
    } finally {
      if (call === current) current.timer = setTimeout(() => tick(current), config.heartbeatMs);
    }
  }

  async function joinDirectory(current) {
    const res = await directory("POST", `rooms/${current.room}/join`, {
      sessionId: current.sessionId,
      name: current.name,
      tracks: current.trackNames,
    });
    current.participantId = res.participantId;
    return res;
  }

  async function join(room, name) {
    setStatus("camera and microphone");
    const stream = await captureMedia();
    const current = { room, name, stream, remotes: new Map(), participantId: null, timer: null };
    call = current;
    try {
      const local = makeTile(name ? `${name} (you)` : "you", true);
      local.video.srcObject = stream;
      play(local.video);
      current.localTile = local;
      setStatus("publishing");
      const published = await publish(stream);
      Object.assign(current, published);
      if (published.trackNames.length > 0) {
        setStatus("joining the room");
        const res = await joinDirectory(current);
        showCall(current);
        sync(res.participants);
      } else {
        local.state.textContent = "no camera or microphone: watching only";
        showCall(current);
      }
      current.timer = setTimeout(() => tick(current), config.heartbeatMs);
    } catch (e) {
      await leave();
      throw e;
    }
  }

  function showCall(current) {
    $("grid").replaceChildren(current.localTile.root);
    $("lobby").hidden = true;
    $("call").hidden = false;
    $("roomLabel").textContent = `room ${current.room}`;
    const url = new URL(location.href);
    url.searchParams.set("room", current.room);
    history.replaceState(null, "", url);
  }

  async function leave() {
    const current = call;
    if (!current) return;
    call = null;
    clearTimeout(current.timer);
    for (const remote of current.remotes.values()) {
      remote.closed = true;
      if (remote.pc) remote.pc.close();
    }
    if (current.pc) current.pc.close();
    for (const track of current.stream.getTracks()) track.stop();
    $("grid").replaceChildren();
    $("call").hidden = true;
    $("lobby").hidden = false;
    $("roomLabel").textContent = "";
    for (const id of ["muteAudio", "muteVideo"]) $(id).setAttribute("aria-pressed", "false");
    $("muteAudio").textContent = "Mute microphone";
    $("muteVideo").textContent = "Turn camera off";
    setStatus("left the room");
    if (current.participantId) {
      await directory("POST", `rooms/${current.room}/leave`, { participantId: current.participantId })
        .catch((e) => console.warn("leave", e));
    }
  }

  // Mute = the track stays, disabled: the browser sends silence or black frames, so every
  // PeerConnection keeps working and unmuting is instant.
  function toggle(kind, button, on, off) {
    if (!call) return;
    const tracks = call.stream.getTracks().filter((t) => t.kind === kind);
    const nowMuted = !muted(kind);
    for (const track of tracks) track.enabled = !nowMuted;
    button.setAttribute("aria-pressed", String(nowMuted && tracks.length > 0));
    button.textContent = nowMuted && tracks.length > 0 ? on : off;
    setFlags(call.localTile, muted("audio"), muted("video"));
  }

  $("muteAudio").addEventListener("click", (e) =>
    toggle("audio", e.currentTarget, "Unmute microphone", "Mute microphone"));
  $("muteVideo").addEventListener("click", (e) =>
    toggle("video", e.currentTarget, "Turn camera on", "Turn camera off"));
  $("leave").addEventListener("click", () => leave());

  $("lobby").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (call || !config) return;
    $("lobbyError").textContent = "";
    $("join").disabled = true;
    try {
      await join($("room").value.trim(), $("name").value.trim());
    } catch (e) {
      $("lobbyError").textContent = e.message;
      setStatus("could not join");
    } finally {
      $("join").disabled = false;
    }
  });

  // Closing the tab leaves the room at once instead of after the heartbeat timeout.
  window.addEventListener("pagehide", () => {
    if (call && call.participantId) {
      navigator.sendBeacon(`/demo/rooms/${call.room}/leave`, JSON.stringify({ participantId: call.participantId }));
    }
  });

  // Per remote participant: what its PeerConnection and <video> receive.
  async function inboundStats() {
    const out = {};
    if (!call) return out;
    for (const [sessionId, remote] of call.remotes) {
      const entry = {
        name: remote.participant.name,
        connectionState: remote.pc ? remote.pc.connectionState : "none",
        videoWidth: remote.tile.video.videoWidth,
        currentTime: remote.tile.video.currentTime,
        audio: null,
        video: null,
      };
      if (remote.pc) {
        (await remote.pc.getStats()).forEach((s) => {
          if (s.type === "inbound-rtp") {
            entry[s.kind] = { packetsReceived: s.packetsReceived || 0, framesDecoded: s.framesDecoded || 0 };
          }
        });
      }
      out[sessionId] = entry;
    }
    return out;
  }

  window.demo = { get call() { return call; }, inboundStats, leave };

  const params = new URLSearchParams(location.search);
  $("room").value = params.get("room") || "demo";
  $("join").disabled = true;
  directory("GET", "config")
    .then((c) => {
      config = c;
      $("join").disabled = false;
      setStatus("ready");
    })
    .catch((e) => {
      $("lobbyError").textContent = e.message;
      setStatus("the demo is not available here");
    });
})();
