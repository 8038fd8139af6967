// The sfu's RTCP toward real browsers: a page publishes, another pulls, for about 10 s.
// Checks that the negotiation carries what the feedback needs (transport-cc extension and
// feedback, NACK and RTX in both directions), and that the sfu sent transport-wide
// feedback, receiver reports and sender reports while the publisher kept sending. Prints
// (does not assert) what the browsers made of it: the publisher's available outgoing
// bitrate and video bitrate, its view of our receiver reports (remote-inbound-rtp: loss,
// jitter, round-trip time), the subscriber's view of our sender reports
// (remote-outbound-rtp), and the sfu's NACK/RTX/report counters.
const { test, expect } = require('@playwright/test');
const { sfu, api, pushInPage, pullInPage, inboundInPage } = require('./helpers');

const TRANSPORT_CC = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';

// Runs in the publisher's page: outbound video, the selected pair and the remote-inbound
// (our receiver reports) view.
async function publisherStatsInPage() {
  const stats = await window.__pub.getStats();
  const out = { video: null, pair: null, remoteInbound: [] };
  const byId = new Map();
  stats.forEach((s) => byId.set(s.id, s));
  stats.forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') {
      out.video = {
        packetsSent: s.packetsSent, bytesSent: s.bytesSent, nackCount: s.nackCount,
        retransmittedPacketsSent: s.retransmittedPacketsSent, frameWidth: s.frameWidth,
        targetBitrate: s.targetBitrate,
      };
    }
    if (s.type === 'transport' && s.selectedCandidatePairId) out.pair = byId.get(s.selectedCandidatePairId);
    if (s.type === 'candidate-pair' && (s.selected || s.nominated) && !out.pair) out.pair = s;
    if (s.type === 'remote-inbound-rtp') {
      out.remoteInbound.push({
        kind: s.kind, packetsLost: s.packetsLost, fractionLost: s.fractionLost, jitter: s.jitter,
        roundTripTime: s.roundTripTime, reports: s.reportsReceived,
      });
    }
  });
  out.now = performance.now();
  out.availableOutgoingBitrate = out.pair ? out.pair.availableOutgoingBitrate : undefined;
  return out;
}

// Runs in the subscriber's page: the remote-outbound (our sender reports) view.
async function subscriberSenderReportsInPage() {
  const stats = await window.__sub.getStats();
  const out = [];
  stats.forEach((s) => {
    if (s.type === 'remote-outbound-rtp') {
      out.push({ kind: s.kind, packetsSent: s.packetsSent, bytesSent: s.bytesSent, reportsSent: s.reportsSent });
    }
  });
  return out;
}

test('the sfu sends transport-wide feedback, receiver and sender reports', async ({ browser, browserName }) => {
  const publisherContext = await browser.newContext();
  const subscriberContext = await browser.newContext();
  try {
    const s = sfu();
    const publisherPage = await publisherContext.newPage();
    const subscriberPage = await subscriberContext.newPage();
    await publisherPage.goto(`http://${s.http}/`);
    await subscriberPage.goto(`http://${s.http}/`);
    const { body: before } = await api('GET', '/stats');
    const published = await publisherPage.evaluate(pushInPage, { appId: s.appId, secret: s.secret });
    await subscriberPage.evaluate(pullInPage, {
      appId: s.appId, secret: s.secret, sessionId: published.sessionId, trackNames: ['video', 'audio'],
    });

    // Our answer to the publisher keeps the transport-cc extension and feedback, NACK and
    // RTX; our offer to the subscriber has NACK and RTX for video.
    const answer = await publisherPage.evaluate(() => window.__pub.remoteDescription.sdp);
    const offer = await subscriberPage.evaluate(() => window.__sub.remoteDescription.sdp);
    const video = (sdp) => sdp.split('m=').find((m) => m.startsWith('video'));
    expect(video(answer)).toContain(TRANSPORT_CC);
    expect(video(answer)).toMatch(/a=rtcp-fb:\S+ transport-cc/);
    expect(video(answer)).toMatch(/a=rtcp-fb:\S+ nack\r\n/);
    expect(video(answer)).toMatch(/a=fmtp:\d+ apt=\d+/);
    expect(video(offer)).toMatch(/a=rtcp-fb:\S+ nack\r\n/);
    expect(video(offer)).toMatch(/a=fmtp:\d+ apt=\d+/);
    expect(video(offer)).toMatch(/a=ssrc-group:FID \d+ \d+/);

    const deadline = Date.now() + 20_000;
    while ((await subscriberPage.evaluate(inboundInPage)).video?.framesDecoded <= 10 || false) {
      if (Date.now() > deadline) throw new Error('no video decoded');
      await subscriberPage.waitForTimeout(250);
    }
    const start = await publisherPage.evaluate(publisherStatsInPage);
    await publisherPage.waitForTimeout(10_000);
    const mid = await publisherPage.evaluate(publisherStatsInPage);
    await publisherPage.waitForTimeout(2_000);
    const end = await publisherPage.evaluate(publisherStatsInPage);
    const kbps = (a, b) => Math.round(((b.video.bytesSent - a.video.bytesSent) * 8) / (b.now - a.now));
    const senderReports = await subscriberPage.evaluate(subscriberSenderReportsInPage);
    const inbound = await subscriberPage.evaluate(inboundInPage);
    const { body: stats } = await api('GET', '/stats');
    const delta = (k) => stats[k] - (before[k] || 0);

    const label = `${browserName} -> ${browserName}`;
    console.log(`[${label}] publisher: availableOutgoingBitrate ${start.availableOutgoingBitrate} -> ${end.availableOutgoingBitrate} bit/s, `
      + `video ${kbps(start, mid)} kbit/s over 10 s then ${kbps(mid, end)} kbit/s, target ${end.video.targetBitrate}, `
      + `width ${end.video.frameWidth}, NACKs received ${end.video.nackCount}, retransmitted ${end.video.retransmittedPacketsSent}`);
    console.log(`[${label}] publisher's view of our receiver reports: ${JSON.stringify(end.remoteInbound)}`);
    console.log(`[${label}] subscriber's view of our sender reports: ${JSON.stringify(senderReports)}; inbound ${JSON.stringify(inbound)}`);
    const shown = ['twcc_feedback_sent', 'receiver_reports_sent', 'sender_reports_received', 'sender_reports_sent',
      'nacks_sent', 'nack_sequences_sent', 'nack_given_up', 'rtx_received', 'rtx_recovered', 'rtx_duplicates',
      'rtp_dropped_rtx', 'nacks_received', 'nack_cache_hits', 'nack_cache_misses', 'rtx_sent', 'retransmissions_sent',
      'keyframe_requests_sent'];
    console.log(`[${label}] sfu during the test: ${shown.map((k) => `${k}=${delta(k)}`).join(' ')}`);

    expect(delta('twcc_feedback_sent')).toBeGreaterThan(0);
    expect(delta('receiver_reports_sent')).toBeGreaterThan(0);
    expect(delta('sender_reports_received')).toBeGreaterThan(0);
    expect(delta('sender_reports_sent')).toBeGreaterThan(0);
    expect(end.video.packetsSent).toBeGreaterThan(mid.video.packetsSent);
    expect(mid.video.packetsSent).toBeGreaterThan(start.video.packetsSent);
  } finally {
    await publisherContext.close();
    await subscriberContext.close();
  }
});
