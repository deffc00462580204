const fs = require('fs');
console.log(`Hello ${process.env['INPUT_WHO-TO-GREET']}!`);
fs.appendFileSync(process.env.GITHUB_OUTPUT, `time=${new Date().toTimeString()}\n`);
