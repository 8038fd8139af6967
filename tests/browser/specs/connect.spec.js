// Issue 3: each browser sends audio and video from fake devices to the sfu, reaches
// connectionState 'connected', and the sfu's counters show that session's SRTP packets
// authenticated and decrypted. Timings are printed, not asserted.
const { test, expect } = require('@playwright/test');
const { sfu, publishInPage, waitConnectedInPage, pollSession } = require('./helpers');

for (const family of ['ipv4', 'ipv6']) {
  test(`publishes audio and video over ${family}`, async ({ page, browserName }) => {
    const s = sfu();
    await page.goto(`http://${s.http}/`);
    const { sessionId, answer } = await page.evaluate(publishInPage, { appId: s.appId, secret: s.secret, family });
    expect(answer).toContain('a=ice-lite');
    const result = await page.evaluate(waitConnectedInPage, 20_000);
    expect(result.connectionState).toBe('connected');
    if (family === 'ipv6') expect(result.remoteAddress).toBe('::1');
    else expect(result.remoteAddress).toBe('127.0.0.1');
    console.log(`[${browserName} ${family}] setRemoteDescription -> ICE connected ${result.toIceConnectedMs.toFixed(1)} ms, -> connected ${result.toConnectedMs.toFixed(1)} ms`);

    // The sfu authenticated and decrypted this session's SRTP: audio and video both flow,
    // so the count keeps growing.
    const first = await pollSession(sessionId, (b) => b.connectionState === 'connected' && b.stats.rtp_decrypted > 50);
    const later = await pollSession(sessionId, (b) => b.stats.rtp_decrypted > first.stats.rtp_decrypted + 50);
    expect(later.stats.srtp_auth_failed).toBe(0);
    expect(later.stats.rtcp_decrypted).toBeGreaterThan(0);
    console.log(`[${browserName} ${family}] sfu decrypted ${later.stats.rtp_decrypted} RTP and ${later.stats.rtcp_decrypted} RTCP packets`);
  });
}

// Printed, not asserted: setRemoteDescription to ICE connected and to connected, median of
// several fresh PeerConnections in one page (the first includes the browser's warm-up).
test('connect timing, median of 7 PeerConnections', async ({ page, browserName }) => {
  const s = sfu();
  await page.goto(`http://${s.http}/`);
  const ice = [];
  const connected = [];
  for (let i = 0; i < 7; i++) {
    await page.evaluate(publishInPage, { appId: s.appId, secret: s.secret });
    const r = await page.evaluate(waitConnectedInPage, 20_000);
    ice.push(r.toIceConnectedMs);
    connected.push(r.toConnectedMs);
    await page.evaluate(() => { window.__pc.getSenders().forEach((x) => x.track && x.track.stop()); window.__pc.close(); });
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`[${browserName}] setRemoteDescription -> ICE connected: median ${median(ice).toFixed(1)} ms (runs: ${ice.map((x) => x.toFixed(1)).join(', ')})`);
  console.log(`[${browserName}] setRemoteDescription -> connected: median ${median(connected).toFixed(1)} ms (runs: ${connected.map((x) => x.toFixed(1)).join(', ')})`);
  expect(ice.length).toBe(7);
});
