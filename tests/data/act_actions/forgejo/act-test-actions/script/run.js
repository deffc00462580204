// Runs the input named after the stage with bash; its exit status is the stage's.
const { spawnSync } = require('child_process');
module.exports = (stage) => {
  const script = process.env[`INPUT_${stage.toUpperCase()}`] || '';
  if (script === '') return;
  const r = spawnSync('bash', ['-e', '-c', script], { stdio: 'inherit' });
  process.exitCode = r.status === null ? 1 : r.status;
};
