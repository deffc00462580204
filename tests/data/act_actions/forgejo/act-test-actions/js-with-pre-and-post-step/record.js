const fs = require('fs');
module.exports = (stage, wanted) => {
  if (wanted) fs.appendFileSync(process.env.GITHUB_ENV, `ACTION_OUTPUT_${stage.toUpperCase()}=${stage}\n`);
};
