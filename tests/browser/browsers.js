// Launch settings of the two browsers, shared by playwright.config.js and the specs that
// start a second browser themselves (one browser publishes, the other pulls).
const chromiumArgs = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  // Decoding must not wait for a visible, focused page.
  '--autoplay-policy=no-user-gesture-required',
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

const firefoxPrefs = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.navigator.permission.fake': true,
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.trr.mode': 5,
  'toolkit.telemetry.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'dom.push.connection.enabled': false,
  'extensions.blocklist.enabled': false,
  'browser.region.update.enabled': false,
  'browser.region.network.url': '',
  'media.gmp-manager.updateEnabled': false,
};

const launchOptions = {
  chromium: { executablePath: '/usr/bin/chromium', args: chromiumArgs },
  firefox: { channel: 'moz-firefox', executablePath: '/usr/bin/firefox-esr', firefoxUserPrefs: firefoxPrefs },
};

module.exports = { chromiumArgs, firefoxPrefs, launchOptions };
