// Stock Chromium and Firefox ESR from Debian, driven against the sfu binary on loopback.
// Launch settings follow the tested recipe for this machine: Debian's browser builds, fake
// media devices, loopback ICE candidates, and no background network traffic.
const { defineConfig } = require('@playwright/test');

const { chromiumArgs, firefoxPrefs } = require('./browsers');

module.exports = defineConfig({
  testDir: './specs',
  globalSetup: require.resolve('./global-setup.js'),
  globalTeardown: require.resolve('./global-teardown.js'),
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  projects: [
    {
      name: 'chromium',
      use: {
        browserName: 'chromium',
        launchOptions: { executablePath: '/usr/bin/chromium', args: chromiumArgs },
      },
    },
    {
      name: 'firefox',
      use: {
        browserName: 'firefox',
        channel: 'moz-firefox',
        launchOptions: { executablePath: '/usr/bin/firefox-esr', firefoxUserPrefs: firefoxPrefs },
      },
    },
  ],
});
