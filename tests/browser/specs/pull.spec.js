// Issue 4: a page publishes fake camera and microphone tracks with tracks/new (first offer of
// a session created empty), another page pulls them with the SFU-offer flow (tracks/new with
// remote tracks -> the SFU's offer -> setRemoteDescription -> createAnswer -> PUT
// renegotiate). The subscriber's video framesDecoded keeps growing and its audio packets
// arrive, in each browser and across the two.
const { test, expect, chromium, firefox } = require('@playwright/test');
const { sfu, api, pushInPage, pullInPage, inboundInPage, pollSession } = require('./helpers');
const { launchOptions } = require('../browsers');

async function waitInbound(page, predicate, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await page.evaluate(inboundInPage);
    if (predicate(last)) return last;
    await page.waitForTimeout(250);
  }
  throw new Error(`${what}; last inbound stats: ${JSON.stringify(last)}`);
}

async function pushAndPull(publisherPage, subscriberPage, label) {
  const s = sfu();
  await publisherPage.goto(`http://${s.http}/`);
  await subscriberPage.goto(`http://${s.http}/`);
  const published = await publisherPage.evaluate(pushInPage, { appId: s.appId, secret: s.secret });
  expect(published.tracks.map((t) => t.trackName).sort()).toEqual(['audio', 'video']);
  const pulled = await subscriberPage.evaluate(pullInPage, {
    appId: s.appId, secret: s.secret, sessionId: published.sessionId, trackNames: ['video', 'audio'],
  });
  expect(pulled.tracks.map((t) => [t.trackName, t.sessionId, t.mid])).toEqual([
    ['video', published.sessionId, '0'],
    ['audio', published.sessionId, '1'],
  ]);

  const first = await waitInbound(
    subscriberPage,
    (x) => x.video && x.video.framesDecoded > 10 && x.audio && x.audio.packetsReceived > 0,
    `${label}: no video frame decoded or no audio packet`,
  );
  const later = await waitInbound(
    subscriberPage,
    (x) => x.video.framesDecoded > first.video.framesDecoded + 30,
    `${label}: video decoding stalled`,
  );
  expect(later.audio.packetsReceived).toBeGreaterThan(first.audio.packetsReceived);
  const session = await pollSession(
    pulled.sessionId,
    (b) => b.tracks.length === 2 && b.tracks.every((t) => t.status === 'active' && t.location === 'remote'),
  );
  expect(session.stats.rtp_sent).toBeGreaterThan(0);
  console.log(`[${label}] video frames decoded ${later.video.framesDecoded}, audio packets ${later.audio.packetsReceived}, sfu sent ${session.stats.rtp_sent} RTP packets`);
  const { body: stats } = await api('GET', '/stats');
  const shown = ['rtp_forwarded', 'rtp_unrouted', 'rtp_dropped_rtx', 'rtp_dropped_other_source', 'rtp_dropped_no_codec',
    'rtp_dropped_not_sendable', 'media_forwarded_out', 'media_dropped_queue_full', 'keyframe_requests_sent', 'keyframe_requests_received',
    'nacks_sent', 'nack_sequences_sent', 'rtx_received', 'rtx_recovered', 'rtx_duplicates', 'nacks_received', 'nack_cache_hits',
    'nack_cache_misses', 'rtx_sent', 'retransmissions_sent', 'receiver_reports_sent', 'sender_reports_sent', 'twcc_feedback_sent'];
  console.log(`[${label}] sfu so far: ${shown.map((k) => `${k}=${stats[k]}`).join(' ')}`);
}

test('a page pulls audio and video another page of the same browser publishes', async ({ browser, browserName }) => {
  const publisher = await browser.newContext();
  const subscriber = await browser.newContext();
  try {
    await pushAndPull(await publisher.newPage(), await subscriber.newPage(), `${browserName} -> ${browserName}`);
  } finally {
    await publisher.close();
    await subscriber.close();
  }
});

const types = { chromium, firefox };
for (const [from, to] of [['chromium', 'firefox'], ['firefox', 'chromium']]) {
  test(`${from} publishes, ${to} pulls`, async ({ browser, browserName }) => {
    test.skip(browserName !== from, `runs once, in the ${from} project`);
    const other = await types[to].launch(launchOptions[to]);
    const publisher = await browser.newContext();
    const subscriber = await other.newContext();
    try {
      await pushAndPull(await publisher.newPage(), await subscriber.newPage(), `${from} -> ${to}`);
    } finally {
      await publisher.close();
      await subscriber.close();
      await other.close();
    }
  });
}
