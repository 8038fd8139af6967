// ICE restart through renegotiation (RFC 8445 §9): a publishing page calls restartIce(),
// offers again through tracks/new, and the SFU answers with new ICE credentials; ICE
// connects again and the sfu keeps decrypting the page's media, in each browser.
const { test, expect } = require('@playwright/test');
const { sfu, publishInPage, waitConnectedInPage, pollSession } = require('./helpers');

test('an ICE restart keeps the session and its media', async ({ page, browserName }) => {
  const s = sfu();
  await page.goto(`http://${s.http}/`);
  const { sessionId, answer } = await page.evaluate(publishInPage, { appId: s.appId, secret: s.secret });
  await page.evaluate(waitConnectedInPage, 20_000);
  const before = await pollSession(sessionId, (b) => b.connectionState === 'connected' && b.stats.rtp_decrypted > 20);

  const restarted = await page.evaluate(async ({ appId, secret, sessionId }) => {
    const pc = window.__pc;
    const states = [];
    pc.addEventListener('iceconnectionstatechange', () => states.push(pc.iceConnectionState));
    pc.restartIce();
    await pc.setLocalDescription(await pc.createOffer());
    const res = await fetch(`/v1/apps/${appId}/sessions/${sessionId}/tracks/new`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${secret}` },
      body: JSON.stringify({ sessionDescription: { type: 'offer', sdp: pc.localDescription.sdp } }),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`tracks/new answered ${res.status}: ${JSON.stringify(json)}`);
    await pc.setRemoteDescription(json.sessionDescription);
    const ownUfrag = pc.localDescription.sdp.split('\r\n').find((l) => l.startsWith('a=ice-ufrag:')).slice(12);
    // The restart is done when the selected pair is one checked under the new credentials
    // (ICE may stay 'connected' all along: media goes on over the old pair meanwhile).
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
        return { answer: json.sessionDescription.sdp, states, connection: pc.connectionState, ownUfrag };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no pair under the new credentials (${ownUfrag}); selected pair's ufrag ${seen}, ICE ${pc.iceConnectionState}, states ${states.join(' ')}`);
  }, { appId: s.appId, secret: s.secret, sessionId });

  const ufrag = (sdp) => sdp.split('\r\n').find((l) => l.startsWith('a=ice-ufrag:'));
  expect(ufrag(restarted.answer)).not.toEqual(ufrag(answer));
  expect(restarted.connection).toBe('connected');
  // The same session, still connected, still decrypting the page's media.
  const after = await pollSession(sessionId, (b) => b.connectionState === 'connected' && b.stats.rtp_decrypted > before.stats.rtp_decrypted + 100);
  expect(after.stats.srtp_auth_failed).toBe(0);
  console.log(`[${browserName}] ICE restart: new ufrag ${restarted.ownUfrag}, ICE states during it: ${restarted.states.join(' -> ') || 'none'}; decrypted ${before.stats.rtp_decrypted} -> ${after.stats.rtp_decrypted}`);
});
