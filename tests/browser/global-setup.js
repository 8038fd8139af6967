// Starts the sfu binary on ephemeral loopback ports (IPv4 and IPv6) with a known app secret,
// waits for its "listening" line, and hands the addresses to the specs through a state file.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

const root = path.resolve(__dirname, '..', '..');
const stateFile = path.join(__dirname, '.sfu-state.json');

module.exports = async function globalSetup() {
  const bin = process.env.SFU_BIN || path.join(root, 'target', 'debug', 'sfu');
  if (!fs.existsSync(bin)) throw new Error(`sfu binary not found at ${bin}: build it first (cargo build -p sfu)`);
  const appId = 'browser-tests';
  const secret = crypto.randomBytes(16).toString('hex');
  const child = spawn(bin, [
    '--http-listen', '127.0.0.1:0',
    '--udp-listen', '127.0.0.1:0',
    '--udp-listen', '[::1]:0',
    '--app-id', appId,
    '--workers', '2',
  ], { env: { ...process.env, SFU_APP_SECRET: secret, RUST_LOG: process.env.RUST_LOG || 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logFile = fs.createWriteStream(path.join(__dirname, 'sfu.log'));
  child.stderr.pipe(logFile);
  const listening = await new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error('sfu did not print its listening line within 30 s')), 30_000);
    child.on('exit', (code) => reject(new Error(`sfu exited early with code ${code}; see tests/browser/sfu.log`)));
    child.stdout.on('data', (chunk) => {
      logFile.write(chunk);
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => l.startsWith('listening '));
      if (line) { clearTimeout(timer); resolve(line); }
    });
  });
  // "listening http=127.0.0.1:PORT udp=127.0.0.1:PORT,[::1]:PORT"
  const fields = Object.fromEntries(listening.trim().split(' ').slice(1).map((kv) => kv.split('=')));
  const state = { pid: child.pid, http: fields.http, udp: fields.udp.split(','), appId, secret };
  fs.writeFileSync(stateFile, JSON.stringify(state));
  child.unref();
};
