// Starts the turn binary and then the sfu binary on ephemeral loopback ports, waits for each
// one's "listening" line, and hands the addresses to the specs through a state file.
//
// turn: UDP, TCP and TLS listeners on 127.0.0.1 (a self-signed certificate made here), loopback peers
// allowed (the sfu is a loopback peer), and a known TURN REST shared secret. The sfu mints
// TURN credentials with the same secret (its TURN key), naming the turn server's ports.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

const root = path.resolve(__dirname, '..', '..');
const stateFile = path.join(__dirname, '.sfu-state.json');

// Spawns `bin` and resolves with the fields of its "listening k=v k=v" line.
async function startServer(name, bin, args, env) {
  if (!fs.existsSync(bin)) throw new Error(`${name} binary not found at ${bin}: build it first (cargo build -p sfu -p turn --bins)`);
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logFile = fs.createWriteStream(path.join(__dirname, `${name}.log`));
  child.stderr.pipe(logFile);
  const listening = await new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not print its listening line within 30 s`)), 30_000);
    child.on('exit', (code) => reject(new Error(`${name} exited early with code ${code}; see tests/browser/${name}.log`)));
    child.stdout.on('data', (chunk) => {
      logFile.write(chunk);
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => l.startsWith('listening '));
      if (line) { clearTimeout(timer); resolve(line); }
    });
  });
  child.unref();
  const fields = Object.fromEntries(listening.trim().split(' ').slice(1).map((kv) => kv.split('=')));
  return { pid: child.pid, fields };
}

const port = (addr) => addr.slice(addr.lastIndexOf(':') + 1);

// A self-signed certificate for 'localhost' (and 127.0.0.1) for turn's TLS listener, made
// with the openssl command: the TLS spec tells each browser to trust it.
function makeCertificate(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'extendedKeyUsage=serverAuth',
  ], { stdio: 'ignore' });
  return { cert, key };
}

module.exports = async function globalSetup() {
  const turnBin = process.env.TURN_BIN || path.join(root, 'target', 'debug', 'turn');
  const turnSecret = crypto.randomBytes(16).toString('hex');
  const tls = makeCertificate(path.join(__dirname, '.turn-tls'));
  // "listening udp=127.0.0.1:PORT tcp=127.0.0.1:PORT tls=127.0.0.1:PORT"
  const turn = await startServer('turn', turnBin, [
    '--udp-listen', '127.0.0.1:0',
    '--tcp-listen', '127.0.0.1:0',
    '--tls-listen', '127.0.0.1:0',
    '--allow-loopback-peers',
    '--realm', 'browser-tests',
    '--cert', tls.cert,
    '--key', tls.key,
    '--log', process.env.TURN_LOG || 'info',
  ], { TURN_AUTH_SECRET: turnSecret, RUST_LOG: process.env.RUST_LOG || 'info' });
  const turnState = {
    pid: turn.pid,
    udp: turn.fields.udp,
    tcp: turn.fields.tcp,
    tls: turn.fields.tls,
    keyId: 'browser-tests',
    secret: turnSecret,
    cert: tls.cert,
  };
  // Written now so that teardown stops turn even if the sfu fails to start.
  fs.writeFileSync(stateFile, JSON.stringify({ turn: turnState }));

  const sfuBin = process.env.SFU_BIN || path.join(root, 'target', 'debug', 'sfu');
  const appId = 'browser-tests';
  const secret = crypto.randomBytes(16).toString('hex');
  // "listening http=127.0.0.1:PORT udp=127.0.0.1:PORT,[::1]:PORT"
  const sfu = await startServer('sfu', sfuBin, [
    '--http-listen', '127.0.0.1:0',
    '--udp-listen', '127.0.0.1:0',
    '--udp-listen', '[::1]:0',
    '--app-id', appId,
    '--workers', '2',
    '--turn-key-id', turnState.keyId,
    '--turn-host', '127.0.0.1',
    '--turn-udp-port', port(turnState.udp),
    '--turn-tcp-port', port(turnState.tcp),
    '--turn-tls-port', port(turnState.tls),
  ], { SFU_APP_SECRET: secret, SFU_TURN_KEY_SECRET: turnSecret, RUST_LOG: process.env.RUST_LOG || 'info' });
  const state = {
    pid: sfu.pid, http: sfu.fields.http, udp: sfu.fields.udp.split(','), appId, secret, turn: turnState,
  };
  fs.writeFileSync(stateFile, JSON.stringify(state));
};
