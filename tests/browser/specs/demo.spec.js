// Issue 5: the demo page at `/`. Two pages (two contexts of one browser, and Chromium with
// Firefox) join the same room through the page's own form, each decodes the other's video
// and receives its audio; muting the camera shows on the other side while the media keeps
// flowing; leaving removes the tile on the other side and the participant from the room
// directory.
const { test, expect, firefox } = require('@playwright/test');
const { sfu } = require('./helpers');
const { launchOptions } = require('../browsers');

let roomCounter = 0;
function uniqueRoom(label) {
  roomCounter += 1;
  return `${label}-${process.pid}-${Date.now().toString(36)}-${roomCounter}`;
}

async function joinRoom(page, room, name) {
  const s = sfu();
  await page.goto(`http://${s.http}/`);
  await expect(page.locator('#join')).toBeEnabled();
  await page.fill('#room', room);
  await page.fill('#name', name);
  await page.click('#join');
  await expect(page.locator('#call')).toBeVisible();
  await expect(page.locator('.tile.local')).toHaveCount(1);
}

// Waits until `page` shows exactly one remote tile named `name` whose PeerConnection decodes
// video (frames and picture size) and receives audio; returns its stats.
async function waitForRemoteMedia(page, name, label, minFrames = 10) {
  const tile = page.locator('.tile.remote');
  await expect(tile).toHaveCount(1);
  await expect(tile.locator('.name')).toHaveText(name);
  const deadline = Date.now() + 25_000;
  let last;
  while (Date.now() < deadline) {
    const all = await page.evaluate(() => window.demo.inboundStats());
    last = Object.values(all)[0];
    if (last && last.connectionState === 'connected' && last.video && last.video.framesDecoded > minFrames
        && last.videoWidth > 0 && last.audio && last.audio.packetsReceived > 0) {
      return last;
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`${label}: no decoded video or no audio from ${name}; last stats ${JSON.stringify(last)}`);
}

async function remoteStats(page) {
  const all = await page.evaluate(() => window.demo.inboundStats());
  return Object.values(all)[0];
}

async function roomDirectory(room) {
  const s = sfu();
  const res = await fetch(`http://${s.http}/demo/rooms/${room}`);
  expect(res.status).toBe(200);
  return res.json();
}

async function twoPeople(alice, bob, label) {
  const room = uniqueRoom('demo');
  await joinRoom(alice, room, 'Alice');
  await joinRoom(bob, room, 'Bob');

  // Each sees and hears the other.
  const bobSeen = await waitForRemoteMedia(alice, 'Bob', `${label}, Alice's page`);
  const aliceSeen = await waitForRemoteMedia(bob, 'Alice', `${label}, Bob's page`);
  const playing = await bob.evaluate(async () => {
    const video = document.querySelector('.tile.remote video');
    const t0 = video.currentTime;
    await new Promise((r) => setTimeout(r, 500));
    return { before: t0, after: video.currentTime, muted: video.muted, paused: video.paused };
  });
  expect(playing.after).toBeGreaterThan(playing.before);
  expect(playing.muted).toBe(false);
  expect(playing.paused).toBe(false);
  console.log(`[${label}] Alice decodes Bob: ${bobSeen.video.framesDecoded} frames ${bobSeen.videoWidth}px, ${bobSeen.audio.packetsReceived} audio packets; Bob decodes Alice: ${aliceSeen.video.framesDecoded} frames, ${aliceSeen.audio.packetsReceived} audio packets`);

  const listed = await roomDirectory(room);
  expect(listed.participants.map((p) => p.name).sort()).toEqual(['Alice', 'Bob']);
  for (const p of listed.participants) {
    expect(p.tracks.sort()).toEqual(['audio', 'video']);
    expect(p).not.toHaveProperty('participantId');
  }

  // Alice turns her camera off: Bob's page shows it, his PeerConnection stays connected and
  // Alice's audio keeps arriving.
  await alice.click('#muteVideo');
  await expect(alice.locator('#muteVideo')).toHaveAttribute('aria-pressed', 'true');
  expect(await alice.evaluate(() => window.demo.call.stream.getVideoTracks()[0].enabled)).toBe(false);
  await expect(bob.locator('.tile.remote .flag')).toHaveText(['camera off']);
  const mutedAt = await remoteStats(bob);
  await bob.waitForTimeout(1500);
  const mutedLater = await remoteStats(bob);
  expect(mutedLater.connectionState).toBe('connected');
  expect(mutedLater.audio.packetsReceived).toBeGreaterThan(mutedAt.audio.packetsReceived);

  // And on again: video decodes at full rate again.
  await alice.click('#muteVideo');
  await expect(bob.locator('.tile.remote .flag')).toHaveCount(0);
  const unmuted = await waitForRemoteMedia(bob, 'Alice', `${label}, after unmute`, mutedLater.video.framesDecoded + 30);
  console.log(`[${label}] after camera off and on: Bob decoded ${unmuted.video.framesDecoded} frames of Alice's video`);

  // The page as a person sees it, with both participants: kept with the test results.
  await bob.screenshot({ path: test.info().outputPath(`demo-${label.replace(/[^a-z]+/g, '-')}.png`) });

  // Alice mutes her microphone: Bob's page shows it.
  await alice.click('#muteAudio');
  await expect(bob.locator('.tile.remote .flag')).toHaveText(['mic off']);

  // Alice leaves: her page is back to the lobby with her camera released, and her tile
  // disappears from Bob's page.
  const leftAt = Date.now();
  await alice.click('#leave');
  await expect(alice.locator('#lobby')).toBeVisible();
  await expect(alice.locator('.tile')).toHaveCount(0);
  await expect(bob.locator('.tile.remote')).toHaveCount(0, { timeout: 10_000 });
  console.log(`[${label}] Alice's tile left Bob's page ${Date.now() - leftAt} ms after she clicked Leave`);
  expect((await roomDirectory(room)).participants.map((p) => p.name)).toEqual(['Bob']);

  // Bob leaves too: the room is gone.
  await bob.click('#leave');
  await expect(bob.locator('#lobby')).toBeVisible();
  expect((await roomDirectory(room)).participants).toEqual([]);
}

test('two pages of the same browser see and hear each other in a room', async ({ browser, browserName }) => {
  const a = await browser.newContext();
  const b = await browser.newContext();
  try {
    await twoPeople(await a.newPage(), await b.newPage(), `${browserName} + ${browserName}`);
  } finally {
    await a.close();
    await b.close();
  }
});

test('chromium and firefox in one room', async ({ browser, browserName }) => {
  test.skip(browserName !== 'chromium', 'runs once, in the chromium project');
  const other = await firefox.launch(launchOptions.firefox);
  const a = await browser.newContext();
  const b = await other.newContext();
  try {
    await twoPeople(await a.newPage(), await b.newPage(), 'chromium + firefox');
  } finally {
    await a.close();
    await b.close();
    await other.close();
  }
});

test('three people: everyone sees the two others, a closed tab leaves the room', async ({ browser, browserName }) => {
  const contexts = [await browser.newContext(), await browser.newContext(), await browser.newContext()];
  try {
    const pages = await Promise.all(contexts.map((c) => c.newPage()));
    const room = uniqueRoom('three');
    const names = ['Ann', 'Ben', 'Cat'];
    for (let i = 0; i < 3; i++) await joinRoom(pages[i], room, names[i]);
    for (const page of pages) await expect(page.locator('.tile.remote')).toHaveCount(2);
    for (let i = 0; i < 3; i++) {
      const others = names.filter((_, j) => j !== i);
      await expect(pages[i].locator('.tile.remote .name')).toHaveText(others, { useInnerText: true });
      await expect.poll(async () => {
        const stats = Object.values(await pages[i].evaluate(() => window.demo.inboundStats()));
        return stats.filter((s) => s.video && s.video.framesDecoded > 5 && s.audio && s.audio.packetsReceived > 0).length;
      }, { timeout: 25_000 }).toBe(2);
    }
    // Closing Cat's tab (no Leave click): the page's pagehide beacon leaves the room.
    await pages[2].close({ runBeforeUnload: true });
    for (const page of pages.slice(0, 2)) await expect(page.locator('.tile.remote')).toHaveCount(1, { timeout: 10_000 });
    expect((await roomDirectory(room)).participants.map((p) => p.name)).toEqual(['Ann', 'Ben']);
    console.log(`[${browserName}] three in a room: each decoded the two others; a closed tab left the room`);
  } finally {
    for (const c of contexts) await c.close();
  }
});

test('the page refuses a bad room name and needs no secret', async ({ page }) => {
  const s = sfu();
  await page.goto(`http://${s.http}/`);
  await expect(page.locator('#join')).toBeEnabled();
  // The secret came from /demo/config, not from the user.
  const config = await page.evaluate(() => fetch('/demo/config').then((r) => r.json()));
  expect(config.appId).toBe(s.appId);
  expect(config.appSecret).toBe(s.secret);
  await page.fill('#room', 'no spaces here');
  await page.click('#join');
  // The form's pattern stops it before any request.
  await expect(page.locator('#call')).toBeHidden();
  expect(await page.locator('#room').evaluate((el) => el.validity.patternMismatch)).toBe(true);
});
