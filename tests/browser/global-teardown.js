const fs = require('node:fs');
const path = require('node:path');

module.exports = async function globalTeardown() {
  const stateFile = path.join(__dirname, '.sfu-state.json');
  if (!fs.existsSync(stateFile)) return;
  const { pid } = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
  fs.rmSync(stateFile);
};
