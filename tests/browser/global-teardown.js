const fs = require('node:fs');
const path = require('node:path');

// Stops the sfu and the turn server started by global-setup.js.
module.exports = async function globalTeardown() {
  const stateFile = path.join(__dirname, '.sfu-state.json');
  if (!fs.existsSync(stateFile)) return;
  const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  for (const pid of [state.pid, state.turn && state.turn.pid]) {
    if (!pid) continue;
    try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
  }
  fs.rmSync(stateFile);
};
